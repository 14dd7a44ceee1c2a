import type { AdapterLoadOptions } from '../../src/cache.js'
import { UnkeyableArgsError } from '../../src/errors.js'
import { hashArgs } from '../../src/keys.js'
import type { ReadShape } from './analyzer.js'
import type { ReadMark } from './marks.js'
import { keysOf, queryIdTags, rowsTag, rowTag, tableTag } from './tags.js'

export interface ReadPlan {
  readonly key: string
  readonly tags: readonly string[]
  readonly options: AdapterLoadOptions
}

// A read of more rows than this by key is tagged by table: as many row tags
// would cost more at every write than the precision saves.
const MAX_ROW_TAGS = 64

/**
 * Key and tags of one cached SELECT. The key is the SQL's digest (made once per
 * text) and its parameters, hashed (never raw: parameters may be personal data),
 * under a namespace of the database and the entity shapes. The tags are the
 * tables the SQL names; for a read of rows by primary key, those rows instead of
 * its main table.
 */
export function planRead(
  namespace: string,
  shape: ReadShape,
  parameters: readonly unknown[] | undefined,
  mark: ReadMark,
): ReadPlan | undefined {
  if (!shape.cacheable) return undefined
  let key: string
  try {
    // The cache id is part of the key: the same SQL under two ids carries two tag sets.
    key = `typeorm:${namespace}:${shape.textDigest}:${hashArgs([parameters ?? [], mark.identifier ?? null])}`
  } catch (error) {
    if (error instanceof UnkeyableArgsError) return undefined
    throw error
  }
  const byKey = shape.byKey
  const rows = byKey && keysOf(byKey.restriction, byKey.columns, parameters)
  const tags: string[] = []
  for (const table of shape.tables) {
    if (rows !== undefined && rows.length <= MAX_ROW_TAGS && table === byKey!.table) {
      tags.push(rowsTag(table), ...rows.map((row) => rowTag(table, row)))
    } else {
      tags.push(tableTag(table))
    }
  }
  if (mark.identifier !== undefined) tags.push(...queryIdTags(mark.identifier))
  const options: { ttlMs?: number; swrMs?: number } = {}
  // 0 when the query gave none (see `queryResultCacheOption`); TypeORM counts it in milliseconds.
  const ttlMs = mark.duration > 0 ? mark.duration : shape.ttlMs
  if (ttlMs !== undefined) options.ttlMs = ttlMs
  if (shape.swrMs !== undefined) options.swrMs = shape.swrMs
  return { key, tags, options }
}
