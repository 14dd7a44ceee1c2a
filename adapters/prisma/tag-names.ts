import { normalizeKey, rowsTag, rowTag, tableTag, wholeTableTags } from '../../src/table-tags.js'
import type { RelationGraph } from './relations.js'

// A model's reads and writes are tagged by its table, in the vocabulary both adapters share
// (src/table-tags.ts): a TypeORM write to the same table evicts them, and the other way round.

/** Every read of lists, counts and aggregates of `model` carries it; every write to `model` invalidates it. */
export function modelTag(graph: RelationGraph, model: string): string {
  return tableTag(graph.tableOf(model))
}

/** Carried by every read of one row of `model` by its key; writes whose rows are unknown invalidate it. */
export function modelRowsTag(graph: RelationGraph, model: string): string {
  return rowsTag(graph.tableOf(model))
}

/** One row of `model`, by its primary key's values (from `keyFromWhere`/`keyFromRecord`, in column order). */
export function modelRowTag(graph: RelationGraph, model: string, key: readonly unknown[]): string {
  return rowTag(
    graph.tableOf(model),
    key.map((value) => normalizeKey(value) ?? String(value)),
  )
}

/** Both tags that make every cached read of `model` a miss. */
export function wholeModelTags(graph: RelationGraph, model: string): [string, string] {
  return wholeTableTags(graph.tableOf(model))
}

/**
 * Tags as a user names them in `$cache.invalidate` and `$cache.queryRaw`: a model's name stands for
 * its table's tags, all of them for an invalidation (`reach: 'whole'`, which must reach reads by key
 * too), the table tag alone for a raw read (`'table'`, which every write to the model invalidates).
 * Any other tag is the user's own. A model's name is kept as a tag as well, for reads a user tagged
 * with it.
 */
export function expandModelNames(graph: RelationGraph, tags: readonly string[], reach: 'whole' | 'table'): string[] {
  const expanded = new Set(tags)
  for (const tag of tags) {
    if (graph.model(tag) === undefined) continue
    if (reach === 'whole') for (const own of wholeModelTags(graph, tag)) expanded.add(own)
    else expanded.add(modelTag(graph, tag))
  }
  return [...expanded].sort()
}
