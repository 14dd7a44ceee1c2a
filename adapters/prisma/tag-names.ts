import { hashArgs } from '../../src/keys.js'

// Tags are plain strings shared by every process using the same Redis prefix,
// so their format is part of the cache's contract: change it and old entries
// stop being invalidated by new writers.

/** Every read of lists, counts and aggregates of `model` carries it; every write to `model` invalidates it. */
export function modelTag(model: string): string {
  return model
}

/** Carried by every read of one row of `model` by its key; writes whose rows are unknown invalidate it. */
export function rowsTag(model: string): string {
  return `${model}#rows`
}

/** One row of `model`: the primary key's values, hashed so no raw key value reaches Redis. */
export function rowTag(model: string, key: readonly unknown[]): string {
  return `${model}#${hashArgs(key)}`
}

/** Both tags that make every cached read of `model` a miss. */
export function wholeModelTags(model: string): [string, string] {
  return [modelTag(model), rowsTag(model)]
}
