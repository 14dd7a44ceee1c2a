import { normalizeKey } from '../../src/table-tags.js'
import type { ValueRef } from '../sql/statements.js'
import { derivedCacheIdBase } from './typeorm-internals.js'
import type { Restriction } from './where.js'

// Tables and rows are tagged in the vocabulary both adapters share (src/table-tags.ts); the
// format of cache-id tags below is this adapter's own, and as much a contract.
export { normalizeKey, rowsTag, rowTag, tableTag, wholeTableTags } from '../../src/table-tags.js'

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
