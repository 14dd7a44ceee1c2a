import type { InvalidateOptions } from './cache-api.js'
import { InvalidOptionError } from './errors.js'
import { hashArgs } from './keys.js'
import { optionalStrings } from './tag-list.js'

// The tag vocabulary both adapters share, and that anyone may use to invalidate from elsewhere:
// a table as the database names it (lower case, no schema), and a row of it by its primary key.
// Prisma and TypeORM reads and writes of one table carry the same tags, so a write through either
// ORM evicts the other's reads. Tags are shared by every process on the same Redis prefix, so this
// format is part of the cache's contract: change it, and change the adapters' key namespaces with
// it, or old entries stop being invalidated by new writers.

/** Part of both adapters' key namespaces: entries stored under another tag vocabulary are never read. */
export const TAG_FORMAT = 'tables-v1'

/** Carried by every read of `table` except reads of its rows by primary key; every write to `table` invalidates it. */
export function tableTag(table: string): string {
  return `t:${table.toLowerCase()}`
}

/** Carried by every read of rows of `table` by primary key; writes whose rows are unknown invalidate it. */
export function rowsTag(table: string): string {
  return `t:${table.toLowerCase()}#rows`
}

/**
 * One row of `table`: its primary key's values, each normalized (`normalizeKey`), in the order of
 * the key's column names sorted (so that two ORMs declaring a composite key in different orders
 * agree), hashed so no raw key value reaches Redis.
 */
export function rowTag(table: string, key: readonly string[]): string {
  return `t:${table.toLowerCase()}#${hashArgs(key)}`
}

/** The order of a composite key's values in its row tag: by column name, lower case, code unit by code unit. */
export function compareColumnNames(a: string, b: string): number {
  const [left, right] = [a.toLowerCase(), b.toLowerCase()]
  return left < right ? -1 : left > right ? 1 : 0
}

/** Both tags that make every cached read of `table` a miss: what `invalidate({ tables })` invalidates. */
export function wholeTableTags(table: string): [string, string] {
  return [tableTag(table), rowsTag(table)]
}

const INTEGER = /^\s*[+-]?\d+\s*$/

/**
 * A key value as the database compares it, so the reader's `$1 = 1`, the writer's entity id `'1'`
 * (bigint columns come back as strings), Prisma's `1n` and the literal `IN (1)` of a pagination
 * query make the same tag. Strings are compared case- and trailing-space-insensitively, as
 * MySQL's default collations do: two keys that only look alike then share a tag, which
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

/**
 * What an `invalidate({ tags, tables })` makes a miss, as tags: `tags` as `ownTags` reads them (an
 * adapter's names for its models or entities), then every tag of each table. Checked: each an
 * array of non-empty strings when given, and one of them given; throws naming the option at fault.
 */
export function invalidationTags(
  options: unknown,
  ownTags: (tags: readonly string[]) => readonly string[] = (tags) => tags,
): string[] {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('tags', 'given in an object: `{ tags }` or `{ tables }`', options)
  }
  const { tags, tables } = options as InvalidateOptions
  if (tags === undefined && tables === undefined) throw new InvalidOptionError('tags', 'given, or `tables`', tags)
  return [...ownTags(optionalStrings(tags, 'tags')), ...optionalStrings(tables, 'tables').flatMap(wholeTableTags)]
}
