import { hashArgs } from '../../src/keys.js'
import type { ValueRef } from '../sql/statements.js'
import { derivedCacheIdBase } from './typeorm-internals.js'
import type { Restriction } from './where.js'

// Tags are shared by every process on the same Redis prefix, so their format is
// part of the cache's contract: change it and old entries stop being invalidated
// by new writers. Table names are bare and lower case.

/** Carried by every read of `table` except reads of its rows by primary key; every write to `table` invalidates it. */
export function tableTag(table: string): string {
  return `t:${table}`
}

/** Carried by every read of rows of `table` by primary key; writes whose rows are unknown invalidate it. */
export function rowsTag(table: string): string {
  return `t:${table}#rows`
}

/** One row of `table`: its primary key, normalized and hashed so no raw value reaches Redis. */
export function rowTag(table: string, key: readonly string[]): string {
  return `t:${table}#${hashArgs(key)}`
}

/** Both tags that make every cached read of `table` a miss. */
export function wholeTableTags(table: string): [string, string] {
  return [tableTag(table), rowsTag(table)]
}

/**
 * The tag of a TypeORM cache id (`.cache('users', ms)`, `find({ cache: { id } })`).
 * TypeORM derives `<id>-count` and `<id>-pagination` for the hidden queries of
 * `getManyAndCount` and paginated joins; those carry the base id's tag too, so
 * removing `users` removes them all.
 */
export function queryIdTags(identifier: string): string[] {
  const tags = [`q:${identifier}`]
  const base = derivedCacheIdBase(identifier)
  if (base !== undefined) tags.push(`q:${base}`)
  return tags
}

const INTEGER = /^\s*[+-]?\d+\s*$/

/**
 * A key value as the database compares it, so the reader's `$1 = 1`, the
 * writer's entity id `'1'` (bigint columns come back as strings) and the
 * literal `IN (1)` of a pagination query make the same tag. Strings are
 * compared case- and trailing-space-insensitively, as MySQL's default
 * collations do: two keys that only look alike then share a tag, which
 * invalidates more, never less. Other types give `undefined`: no row tag.
 */
export function normalizeKey(value: unknown): string | undefined {
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return String(value)
    return Number.isFinite(value) ? String(value) : undefined
  }
  if (typeof value === 'string') {
    if (INTEGER.test(value)) return BigInt(value.trim()).toString()
    return value.toLowerCase().replace(/ +$/, '')
  }
  return undefined
}

function resolve(ref: ValueRef, parameters: readonly unknown[] | undefined): string | undefined {
  if ('param' in ref) return normalizeKey(parameters?.[ref.param])
  return normalizeKey(ref.literal)
}

/**
 * The primary keys a restriction allows, each as the normalized values of
 * `columns` in order; `undefined` when any row may match, when a value is not a
 * plain scalar, or when one assignment compares a column with two different values
 * (it cannot tell which the database would see as equal).
 */
export function keysOf(
  restriction: Restriction,
  columns: readonly string[],
  parameters: readonly unknown[] | undefined,
): string[][] | undefined {
  if (restriction === undefined) return undefined
  const keys = new Map<string, string[]>()
  for (const assignment of restriction) {
    const key: string[] = []
    for (const column of columns) {
      const refs = assignment.get(column)
      if (refs === undefined || refs.length === 0) return undefined
      const values = new Set(refs.map((ref) => resolve(ref, parameters)))
      const [value] = values
      if (values.size !== 1 || value === undefined) return undefined
      key.push(value)
    }
    keys.set(JSON.stringify(key), key)
  }
  return [...keys.values()]
}
