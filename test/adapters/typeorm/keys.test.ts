// Which rows a statement's WHERE pins (the SQL itself is read by adapters/sql,
// tested in test/adapters/sql): the keys of row tags, without a database.
import { describe, expect, test } from 'vitest'
import { DIALECT_RULES } from '../../../adapters/sql/lexer.js'
import { parseSql, type Statement } from '../../../adapters/sql/statements.js'
import { keysOf, normalizeKey } from '../../../adapters/typeorm/tags.js'
import { restrictionOf } from '../../../adapters/typeorm/where.js'

function one(sql: string): Statement {
  const statements = parseSql(sql, DIALECT_RULES.postgres)
  expect(statements).toHaveLength(1)
  return statements[0]!
}

/** The keys `where` pins for a table `user` aliased `U` with primary key `id`. */
function keys(where: string, parameters: unknown[] = [], qualifiers = ['user', 'u', '']): string[][] | undefined {
  const statement = one(`SELECT * FROM "user" "U" WHERE ${where}`)
  if (statement.kind !== 'select') throw new Error('not a select')
  const restriction = restrictionOf(statement.main?.where, {
    columns: new Set(['id']),
    qualifiers: new Set(qualifiers),
  })
  return keysOf(restriction, ['id'], parameters)
}

describe('restrictionOf', () => {
  test('the main relation of TypeORM pagination is the table inside its derived table', () => {
    const statement = one(
      `SELECT DISTINCT "distinctAlias"."User_id" AS "ids_User_id" FROM (SELECT "User"."id" AS "User_id" FROM "s"."user" "User" LEFT JOIN "s"."profile" "P" ON "P"."id"="User"."profileId" WHERE ( (("User"."id" = $1)) ) AND ( "User"."deletedAt" IS NULL )) "distinctAlias" ORDER BY "User_id" ASC LIMIT 1`,
    )
    if (statement.kind !== 'select') throw new Error('not a select')
    expect(statement.main).toMatchObject({ table: 'user', alias: 'user' })
    const restriction = restrictionOf(statement.main!.where, {
      columns: new Set(['id']),
      qualifiers: new Set(['user']),
    })
    expect(keysOf(restriction, ['id'], [7])).toStrictEqual([['7']])
  })

  test('pins keys compared by =, IN, and in every branch of an OR', () => {
    expect(keys('"U"."id" = $1', [3])).toStrictEqual([['3']])
    expect(keys('( (("U"."id" = $1)) ) AND ( "U"."deletedAt" IS NULL ) AND ( "U"."id" IN (3) )', [3])).toStrictEqual([
      ['3'],
    ])
    expect(keys('"U"."id" IN ($1, $2, 9)', [1, '2'])).toStrictEqual([['1'], ['2'], ['9']])
    expect(keys('("U"."id" = 1 AND x = 2) OR ("U"."id" = 4)')).toStrictEqual([['1'], ['4']])
    expect(keys('$1 = "U"."id"', [5n])).toStrictEqual([['5']])
  })

  test('anything else lets any row match', () => {
    expect(keys('"U"."id" = $1 OR "U"."name" = $2', [1, 'a'])).toBeUndefined()
    expect(keys('NOT ("U"."id" = 1)')).toBeUndefined()
    expect(keys('"U"."id" > 1')).toBeUndefined()
    expect(keys('"U"."id" IN (SELECT 1)')).toBeUndefined()
    expect(keys('"U"."id" = $1::int', [1])).toBeUndefined()
    expect(keys('"U"."id" = ANY($1)', [[1, 2]])).toBeUndefined()
    expect(keys('"U"."id" = $1', [{ id: 1 }])).toBeUndefined()
    // Another table's id, or an unqualified id where that is ambiguous.
    expect(keys('"P"."id" = 1')).toBeUndefined()
    expect(keys('"id" = 1', [], ['user', 'u'])).toBeUndefined()
    // A value compared twice with values the database might not see as equal.
    expect(keys('"U"."id" = 1 AND "U"."id" = 2')).toBeUndefined()
    // BETWEEN's AND is not a conjunction.
    expect(keys('"U"."x" BETWEEN 1 AND "U"."id" = 2')).toBeUndefined()
    expect(keys('CASE WHEN a THEN 1 ELSE 0 END = 1 AND "U"."id" = 2')).toStrictEqual([['2']])
  })
})

describe('normalizeKey', () => {
  test('equal for the forms one key takes in reads and writes, undefined for non-scalars', () => {
    expect(new Set([normalizeKey(1), normalizeKey('1'), normalizeKey(1n), normalizeKey(' 01 ')]).size).toBe(1)
    expect(normalizeKey('ABC ')).toBe(normalizeKey('abc'))
    expect(normalizeKey('9007199254740993')).toBe('9007199254740993')
    expect(normalizeKey(new Date(0))).toBeUndefined()
    expect(normalizeKey(null)).toBeUndefined()
    expect(normalizeKey(Number.NaN)).toBeUndefined()
  })
})
