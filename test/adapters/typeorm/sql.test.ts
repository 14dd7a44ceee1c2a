// The SQL reading the adapter's tags rest on, without a database: what counts as
// a write, which tables a statement names, and which rows a WHERE pins.
import { describe, expect, test } from 'vitest'
import { type Dialect, splitStatements, tokenize } from '../../../adapters/typeorm/sql.js'
import { parseStatement, type Statement } from '../../../adapters/typeorm/statements.js'
import { keysOf, normalizeKey } from '../../../adapters/typeorm/tags.js'
import { restrictionOf } from '../../../adapters/typeorm/where.js'

function parse(sql: string, dialect: Dialect = 'postgres'): Statement[] {
  return splitStatements(tokenize(sql, dialect)).map(parseStatement)
}

function one(sql: string, dialect: Dialect = 'postgres'): Statement {
  const statements = parse(sql, dialect)
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

describe('tokenize', () => {
  test('keywords inside strings, quoted names, comments and dollar quotes are not keywords', () => {
    const tokens = tokenize(
      `SELECT 'DELETE FROM x', "UPDATE" -- INSERT INTO y\n /* DROP TABLE z */ FROM t WHERE a = $tag$ TRUNCATE u $tag$`,
      'postgres',
    )
    const words = tokens.filter((token) => token.kind === 'word').map((token) => token.value)
    expect(words).toStrictEqual(['SELECT', 'FROM', 'T', 'WHERE', 'A'])
  })

  test('placeholders follow the dialect', () => {
    const pg = tokenize('a = $2 AND b ? c', 'postgres').filter((token) => token.kind === 'param')
    expect(pg.map((token) => token.value)).toStrictEqual(['1'])
    const mysql = tokenize("a = ? AND b = '?' AND c = ?", 'mysql').filter((token) => token.kind === 'param')
    expect(mysql.map((token) => token.value)).toStrictEqual(['0', '1'])
    // MySQL: backticks are names, double quotes strings, backslash escapes.
    const names = tokenize('SELECT `user`.`id` FROM `db`.`user` WHERE x = "a\\"b"', 'mysql')
    expect(names.filter((token) => token.kind === 'ident').map((token) => token.value)).toStrictEqual([
      'user',
      'id',
      'db',
      'user',
    ])
    expect(names.find((token) => token.kind === 'string')?.value).toBe('a"b')
  })
})

describe('parseStatement', () => {
  test('reads name every table, in FROM lists, JOINs and subqueries', () => {
    const statement = one(
      `SELECT * FROM "s"."user" "U" LEFT JOIN "s"."post" "P" ON "P"."userId" = "U"."id", tag t WHERE EXISTS (SELECT 1 FROM "Profile" WHERE x IS DISTINCT FROM y) AND EXTRACT(YEAR FROM "U"."at") = 1`,
    )
    expect(statement.kind).toBe('select')
    if (statement.kind !== 'select') return
    expect(statement.tables).toEqual(expect.arrayContaining(['user', 'post', 'tag', 'profile']))
    expect(statement.main).toMatchObject({ table: 'user', alias: 'u' })
  })

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

  test('writes, with their tables', () => {
    expect(one('INSERT INTO "s"."user"("email", "id") VALUES ($1, DEFAULT), ($2, 5) RETURNING "id"')).toMatchObject({
      kind: 'insert',
      table: 'user',
      columns: ['email', 'id'],
      rows: [
        [{ param: 0 }, undefined],
        [{ param: 1 }, { literal: '5' }],
      ],
      upsert: false,
    })
    expect(
      one('INSERT INTO "user"("email") VALUES ($1) ON CONFLICT ( "email" ) DO UPDATE SET "name" = EXCLUDED."name"'),
    ).toMatchObject({
      kind: 'insert',
      upsert: true,
      upsertSetColumns: ['name'],
    })
    expect(
      one('INSERT INTO `user`(`email`) VALUES (?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)', 'mysql'),
    ).toMatchObject({
      upsert: true,
      upsertSetColumns: ['name'],
    })
    // SQLite's conflict clause is not a table name (regression: both read as a write to a table "or").
    expect(one('INSERT OR IGNORE INTO "user"("email") VALUES (?)', 'sqlite')).toMatchObject({
      kind: 'insert',
      table: 'user',
      columns: ['email'],
      upsert: false,
    })
    expect(one('INSERT OR REPLACE INTO "user"("id", "email") VALUES (?, ?)', 'sqlite')).toMatchObject({
      kind: 'insert',
      table: 'user',
      upsert: true,
      upsertSetColumns: undefined,
    })
    expect(one('UPDATE OR IGNORE "user" SET "name" = ? WHERE "id" = ?', 'sqlite')).toMatchObject({
      kind: 'update',
      targets: ['user'],
      setColumns: ['name'],
    })
    expect(one('UPDATE OR REPLACE "user" SET "email" = ? WHERE "id" = ?', 'sqlite')).toMatchObject({
      kind: 'rewrite',
      tables: ['user'],
      cascade: 'policy',
    })
    expect(one('UPDATE "s"."user" SET "name" = $1, "visits" = "visits" + 1 WHERE "id" = $2')).toMatchObject({
      kind: 'update',
      targets: ['user'],
      setColumns: ['name', 'visits'],
    })
    expect(one('UPDATE `a` JOIN `b` ON a.x = b.x SET a.y = 1', 'mysql')).toMatchObject({
      kind: 'update',
      targets: ['a', 'b'],
      relation: undefined,
    })
    expect(one('DELETE FROM "user" WHERE "id" IN ($1, $2)')).toMatchObject({ kind: 'delete', targets: ['user'] })
    expect(one('DELETE a FROM a JOIN b ON a.x = b.x', 'mysql')).toMatchObject({ kind: 'delete', relation: undefined })
    expect(one('TRUNCATE TABLE "s"."post", tag RESTART IDENTITY CASCADE')).toMatchObject({
      kind: 'rewrite',
      tables: ['post', 'tag'],
      cascade: 'all',
    })
    expect(one('ALTER TABLE "user" ADD COLUMN x int')).toMatchObject({
      kind: 'rewrite',
      tables: ['user'],
      implicitCommit: true,
    })
    expect(one('DROP TABLE IF EXISTS a, "s"."b"')).toMatchObject({ kind: 'rewrite', tables: ['a', 'b'] })
    expect(one('WITH d AS (DELETE FROM post RETURNING id) SELECT count(*) FROM d')).toMatchObject({
      kind: 'rewrite',
      tables: ['post'],
    })
    expect(one('EXPLAIN ANALYZE UPDATE tag SET name = 1')).toMatchObject({ kind: 'update', targets: ['tag'] })
  })

  test('reads and session statements change nothing; what cannot be told is unknown', () => {
    for (const sql of [
      'SHOW search_path',
      'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
      'SAVEPOINT s',
      'RELEASE SAVEPOINT s',
      'ROLLBACK TO SAVEPOINT s',
      'EXPLAIN SELECT 1',
      'CREATE INDEX i ON t (a)',
    ]) {
      expect(['none', 'ddl-commit']).toContain(one(sql).kind)
    }
    expect(one('SELECT 1').kind).toBe('select')
    for (const sql of [
      'CALL refresh()',
      'DO $$ BEGIN NULL; END $$',
      'EXECUTE stmt',
      'DROP SCHEMA s CASCADE',
      'UPDATE',
    ]) {
      expect(one(sql).kind).toBe('unknown')
    }
  })

  test('transaction control, in one string or several', () => {
    expect(parse('BEGIN; UPDATE t SET a = 1; COMMIT').map((statement) => statement.kind)).toStrictEqual([
      'begin',
      'update',
      'commit',
    ])
    expect(one('START TRANSACTION').kind).toBe('begin')
    expect(one('ROLLBACK').kind).toBe('rollback')
    expect(one('END').kind).toBe('commit')
  })
})

describe('restrictionOf', () => {
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
