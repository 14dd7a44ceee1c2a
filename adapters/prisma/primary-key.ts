import { isPlainObject } from '../../src/scoped-settings.js'
import type { ModelInfo, PrimaryKeyField } from './relations.js'

/**
 * The primary key a `where` names by plain equality, normalised so the same
 * row gives the same values whether they come from a `where` or from a
 * returned record (a BigInt key may be written `1` or `1n`). Undefined when
 * the `where` does not pin one row by its primary key.
 */
export function keyFromWhere(model: ModelInfo, where: unknown): unknown[] | undefined {
  const fields = model.primaryKey
  if (fields === undefined || !isPlainObject(where)) return undefined
  if (fields.length > 1 && model.primaryKeyName !== undefined) {
    const compound = where[model.primaryKeyName]
    if (isPlainObject(compound)) return keyValues(fields, compound)
  }
  return keyValues(fields, where)
}

/** The primary key of a record Prisma returned; undefined when a `select` left part of it out. */
export function keyFromRecord(model: ModelInfo, record: unknown): unknown[] | undefined {
  if (model.primaryKey === undefined || !isPlainObject(record)) return undefined
  return keyValues(model.primaryKey, record)
}

function keyValues(fields: readonly PrimaryKeyField[], source: Record<string, unknown>): unknown[] | undefined {
  const values: unknown[] = []
  for (const field of fields) {
    const value = normalize(field.type, source[field.name])
    if (value === undefined) return undefined
    values.push(value)
  }
  return values
}

function normalize(type: string, value: unknown): unknown {
  switch (type) {
    case 'Int':
      return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined
    case 'BigInt':
      if (typeof value === 'bigint') return value
      return typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : undefined
    case 'String':
      return typeof value === 'string' ? value : undefined
    default:
      return undefined
  }
}
