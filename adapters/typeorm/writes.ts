import type { FilteredWrite, InsertStatement, Statement } from '../sql/statements.js'
import type { Change, SchemaIndex, TableInfo } from './schema.js'
import { keysOf, normalizeKey, rowsTag, rowTag, tableTag, wholeTableTags } from './tags.js'
import { autoIncrementedKeys, returnedRows } from './typeorm-internals.js'
import { restrictionOf } from './where.js'

/** Tags to invalidate, or `'all'` when the statement's reach cannot be told. */
export type WriteTags = readonly string[] | 'all'

/**
 * What a statement that ran (or failed: a failed statement may still have
 * written, if the connection died after the database applied it) could have
 * changed. `result` is what the driver returned, when the SQL was this one
 * statement; it gives the keys of inserted rows.
 */
export function tagsOfWrite(
  schema: SchemaIndex,
  statement: Statement,
  parameters: readonly unknown[] | undefined,
  result: unknown,
): WriteTags | undefined {
  switch (statement.kind) {
    case 'unknown':
      return 'all'
    case 'rewrite': {
      const tags = statement.tables.flatMap(wholeTableTags)
      const change: Change | undefined =
        statement.cascade === 'all' ? { kind: 'all' } : statement.cascade === 'policy' ? { kind: 'delete' } : undefined
      if (change !== undefined) for (const table of statement.tables) tags.push(...affected(schema, table, change))
      return tags
    }
    case 'update':
    case 'delete':
      return filteredWriteTags(schema, statement, parameters)
    case 'insert':
      return insertTags(schema, statement, parameters, result)
    default:
      return undefined
  }
}

function filteredWriteTags(
  schema: SchemaIndex,
  write: FilteredWrite,
  parameters: readonly unknown[] | undefined,
): string[] {
  const change: Change = write.kind === 'delete' ? { kind: 'delete' } : { kind: 'update', columns: write.setColumns }
  const tags: string[] = []
  for (const table of write.targets) tags.push(...affected(schema, table, change))
  const relation = write.relation
  const info = relation && schema.tables.get(relation.table)
  const keyChanged = write.kind === 'update' && changesKey(info, write.setColumns)
  if (relation === undefined || info === undefined || info.primaryColumns.length === 0 || keyChanged) {
    for (const table of write.targets) tags.push(...wholeTableTags(table))
    return tags
  }
  const qualifiers = new Set(['', relation.table])
  if (relation.alias !== undefined) qualifiers.add(relation.alias)
  const restriction = restrictionOf(relation.where, { columns: new Set(info.primaryColumns), qualifiers })
  const keys = keysOf(restriction, info.primaryColumns, parameters)
  tags.push(tableTag(info.name))
  if (keys === undefined) tags.push(rowsTag(info.name))
  else for (const key of keys) tags.push(rowTag(info.name, key))
  return tags
}

function insertTags(
  schema: SchemaIndex,
  insert: InsertStatement,
  parameters: readonly unknown[] | undefined,
  result: unknown,
): string[] {
  const table = insert.table
  const tags = [tableTag(table)]
  const info = schema.tables.get(table)
  if (insert.upsert) {
    // The update part of an upsert (or REPLACE's delete) changes rows named by another unique key.
    tags.push(...affected(schema, table, { kind: 'update', columns: insert.upsertSetColumns }))
    if (insert.upsertSetColumns === undefined) tags.push(...affected(schema, table, { kind: 'delete' }))
  }
  const keys =
    info === undefined ||
    info.primaryColumns.length === 0 ||
    (insert.upsert && changesKey(info, insert.upsertSetColumns))
      ? undefined
      : insertedKeys(info, insert, parameters, result)
  // A new row may answer a cached by-key read that found nothing: its key must be known, or every such read goes.
  if (keys === undefined) tags.push(rowsTag(table))
  else for (const key of keys) tags.push(rowTag(table, key))
  return tags
}

/**
 * Keys of the rows an INSERT wrote: from its VALUES when they give every key
 * column, else from what the database returned (PostgreSQL's RETURNING rows,
 * MySQL's insertId). An upsert may have updated a row other than the one its
 * VALUES name, so only returned keys count for it.
 */
function insertedKeys(
  info: TableInfo,
  insert: InsertStatement,
  parameters: readonly unknown[] | undefined,
  result: unknown,
): string[][] | undefined {
  const returned = returnedKeys(info, result)
  if (insert.upsert) return returned
  const fromValues = valuesKeys(info, insert, parameters)
  return fromValues ?? returned ?? insertIdKeys(info, insert, result)
}

function valuesKeys(
  info: TableInfo,
  insert: InsertStatement,
  parameters: readonly unknown[] | undefined,
): string[][] | undefined {
  if (insert.columns === undefined || insert.rows === undefined) return undefined
  const positions = info.primaryColumns.map((column) => insert.columns!.indexOf(column))
  if (positions.includes(-1)) return undefined
  const keys: string[][] = []
  for (const row of insert.rows) {
    const values = positions.map((position) => row[position])
    if (values.includes(undefined)) return undefined
    const restriction = [new Map(info.primaryColumns.map((column, index) => [column, [values[index]!]]))]
    const key = keysOf(restriction, info.primaryColumns, parameters)?.[0]
    if (key === undefined) return undefined
    keys.push(key)
  }
  return keys
}

function returnedKeys(info: TableInfo, result: unknown): string[][] | undefined {
  const rows = returnedRows(result)
  if (rows === undefined || rows.length === 0) return undefined
  const keys: string[][] = []
  for (const row of rows) {
    if (row === null || typeof row !== 'object') return undefined
    const key = info.primaryColumnNames.map((column) => normalizeKey((row as Record<string, unknown>)[column]))
    if (key.includes(undefined)) return undefined
    keys.push(key as string[])
  }
  return keys
}

/**
 * Consecutive ids for a single auto-increment key the INSERT left to the
 * database, from the id its driver reported (see `autoIncrementedKeys`).
 */
function insertIdKeys(info: TableInfo, insert: InsertStatement, result: unknown): string[][] | undefined {
  if (info.incrementColumn === undefined) return undefined
  // Rows that gave their own id break the sequence.
  const position = insert.columns?.indexOf(info.incrementColumn) ?? -1
  if (position !== -1 && insert.rows?.some((row) => row[position] !== undefined) !== false) return undefined
  return autoIncrementedKeys(result, insert.rows?.length)
}

function changesKey(info: TableInfo | undefined, columns: readonly string[] | undefined): boolean {
  if (info === undefined) return true
  return columns === undefined || columns.some((column) => info.primaryColumns.includes(column))
}

function affected(schema: SchemaIndex, table: string, change: Change): string[] {
  return schema.affectedBy(table, change).flatMap(wholeTableTags)
}
