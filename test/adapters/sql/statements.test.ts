// What one SQL statement does, read off its text: the tables it reads and
// writes, its rows and columns where they can be told, and `unknown` where not.
import { describe, expect, test } from 'vitest'
import { DIALECT_RULES, type Dialect } from '../../../adapters/sql/lexer.js'
import { parseSql, type Statement } from '../../../adapters/sql/statements.js'

function parse(sql: string, dialect: Dialect = 'postgres'): Statement[] {
  return parseSql(sql, DIALECT_RULES[dialect])
}

function one(sql: string, dialect: Dialect = 'postgres'): Statement {
  const statements = parse(sql, dialect)
  expect(statements).toHaveLength(1)
  return statements[0]!
}

describe('parseSql', () => {
  test('reads name every table, in FROM lists, JOINs and subqueries', () => {
    const statement = one(
      `SELECT * FROM "s"."user" "U" LEFT JOIN "s"."post" "P" ON "P"."userId" = "U"."id", tag t WHERE EXISTS (SELECT 1 FROM "Profile" WHERE x IS DISTINCT FROM y) AND EXTRACT(YEAR FROM "U"."at") = 1`,
    )
    expect(statement.kind).toBe('select')
    if (statement.kind !== 'select') return
    expect(statement.tables).toEqual(expect.arrayContaining(['user', 'post', 'tag', 'profile']))
    expect(statement.main).toMatchObject({ table: 'user', alias: 'u' })
    expect(one('(SELECT 1) UNION (SELECT 2 FROM b)')).toMatchObject({ kind: 'select', tables: ['b'] })
    expect(one('WITH x AS (SELECT 1 FROM a) SELECT * FROM x')).toMatchObject({ kind: 'select', tables: ['a', 'x'] })
    expect(one('VALUES (1), (2)')).toMatchObject({ kind: 'select', tables: [] })
  })

  test('inserts, upserts and SQLite conflict clauses', () => {
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
    ).toMatchObject({ kind: 'insert', upsert: true, upsertSetColumns: ['name'] })
    expect(
      one('INSERT INTO `user`(`email`) VALUES (?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)', 'mysql'),
    ).toMatchObject({ upsert: true, upsertSetColumns: ['name'] })
    expect(one('INSERT IGNORE `db`.`orders` SET id = 1', 'mysql')).toMatchObject({ kind: 'insert', table: 'orders' })
    expect(one('INSERT INTO a (x) SELECT x FROM b', 'mysql')).toMatchObject({
      kind: 'insert',
      table: 'a',
      rows: undefined,
    })
    expect(one('REPLACE INTO t VALUES (1)', 'mysql')).toMatchObject({
      table: 't',
      upsert: true,
      upsertSetColumns: undefined,
    })
    // SQLite's conflict clause is not a table name (regression: both read as a write to a table "or").
    expect(one('INSERT OR IGNORE INTO "user"("email") VALUES (?)', 'sqlite')).toMatchObject({
      kind: 'insert',
      table: 'user',
      columns: ['email'],
      upsert: false,
    })
    expect(one('INSERT OR REPLACE INTO [user]("id", "email") VALUES (?, ?)', 'sqlite')).toMatchObject({
      kind: 'insert',
      table: 'user',
      upsert: true,
      upsertSetColumns: undefined,
    })
    expect(one('INSERT OR WHATEVER INTO t VALUES (1)', 'sqlite').kind).toBe('unknown')
  })

  test('updates and deletes, with their targets', () => {
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
    expect(
      one('update only "s"."Post" as p set title = p.title || $1 from "User" u where u.id = p."authorId"'),
    ).toMatchObject({ kind: 'update', targets: ['post'] })
    expect(one('UPDATE `a` JOIN `b` ON a.x = b.x SET a.y = 1', 'mysql')).toMatchObject({
      kind: 'update',
      targets: ['a', 'b'],
      relation: undefined,
    })
    expect(one('UPDATE a, `b` SET a.x = 1', 'mysql')).toMatchObject({ targets: ['a', 'b'], relation: undefined })
    expect(one('DELETE FROM "user" WHERE "id" IN ($1, $2)')).toMatchObject({ kind: 'delete', targets: ['user'] })
    expect(one('DELETE LOW_PRIORITY FROM `t` WHERE a = 1 ORDER BY a LIMIT 10', 'mysql')).toMatchObject({
      targets: ['t'],
    })
    // USING: PostgreSQL filters by the tables it names, MySQL deletes from them.
    expect(one('delete from t as x using u where x.a = u.a returning x.*')).toMatchObject({
      kind: 'delete',
      targets: ['t', 'u'],
      relation: undefined,
    })
  })

  test('rewrites: TRUNCATE, MERGE, DDL', () => {
    expect(one('TRUNCATE TABLE "s"."post", tag RESTART IDENTITY CASCADE')).toMatchObject({
      kind: 'rewrite',
      command: 'TRUNCATE',
      tables: ['post', 'tag'],
      cascade: 'all',
    })
    // Regression: ONLY after a comma was read as a table named "only".
    expect(one('TRUNCATE a, ONLY "B" * RESTART IDENTITY')).toMatchObject({ tables: ['a', 'b'], cascade: 'none' })
    expect(one('MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE')).toMatchObject({
      command: 'MERGE',
      tables: ['t'],
    })
    expect(one('ALTER TABLE IF EXISTS ONLY "user" ADD COLUMN x int')).toMatchObject({
      kind: 'rewrite',
      command: 'ALTER',
      tables: ['user'],
      implicitCommit: true,
    })
    expect(one('DROP TABLE IF EXISTS a, "s"."b"')).toMatchObject({
      kind: 'rewrite',
      tables: ['a', 'b'],
      cascade: 'all',
    })
    expect(one('CREATE TABLE IF NOT EXISTS t (a int)')).toMatchObject({ command: 'CREATE', tables: ['t'] })
  })

  test('reads and session statements change nothing', () => {
    for (const sql of [
      'SHOW search_path',
      'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
      'SAVEPOINT s',
      'RELEASE SAVEPOINT s',
      'ROLLBACK TO SAVEPOINT s',
      'EXPLAIN SELECT 1',
      'EXPLAIN ANALYZE SELECT 1',
      'CREATE INDEX i ON t (a)',
    ]) {
      expect(['none', 'ddl-commit']).toContain(one(sql).kind)
    }
  })

  test('a write keyword that starts no statement is read, in every dialect (issue 14)', () => {
    const dialects: Dialect[] = ['postgres', 'mysql', 'sqlite', 'other']
    for (const dialect of dialects) {
      for (const sql of [
        "WITH x AS (SELECT REPLACE(name, 'a', 'b') AS n FROM users) SELECT * FROM x",
        "(SELECT replace(name, 'a', 'b') FROM users) UNION (SELECT name FROM posts)",
        'WITH t AS (SELECT id FROM jobs FOR UPDATE SKIP LOCKED) SELECT * FROM t',
        // MySQL's INSERT() and TRUNCATE() are string and number functions; qualified names and aliases are names.
        'WITH t AS (SELECT INSERT(a, 1, 2, b) AS delete, TRUNCATE(c, 2), s.merge(d) FROM u) SELECT t.update FROM t',
        '(SELECT id FROM jobs FOR NO KEY UPDATE OF jobs NOWAIT) UNION (SELECT 1)',
        'WITH t AS (SELECT id FROM jobs LOCK IN SHARE MODE) SELECT * FROM t',
        // UPDATE( is a write only with a SET keyword after it (MySQL's `UPDATE (a JOIN b) SET`).
        'WITH t AS (SELECT update(a), set(b), u.set, c AS set FROM u) SELECT * FROM t',
      ]) {
        expect(one(sql, dialect), `${dialect}: ${sql}`).toMatchObject({ kind: 'select' })
      }
    }
    expect(one("WITH x AS (SELECT REPLACE(name, 'a', 'b') FROM users) SELECT * FROM x")).toMatchObject({
      tables: ['users', 'x'],
    })
  })

  test('what cannot be told with certainty is unknown', () => {
    for (const [sql, dialect] of [
      ['CALL refresh()', 'postgres'],
      ['DO $$ BEGIN NULL; END $$', 'postgres'],
      ['EXECUTE stmt', 'postgres'],
      ['EXEC purge', 'other'],
      ['DROP SCHEMA s CASCADE', 'postgres'],
      ['UPDATE', 'postgres'],
      // Writing CTEs and EXPLAIN ANALYZE of a write.
      ['WITH d AS (DELETE FROM post RETURNING id) SELECT count(*) FROM d', 'postgres'],
      ['WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x', 'postgres'],
      ['EXPLAIN ANALYZE UPDATE tag SET name = 1', 'postgres'],
      ['WITH x AS (SELECT 1) REPLACE INTO t SELECT * FROM x', 'sqlite'],
      ['WITH x AS (SELECT 1) UPDATE (a JOIN b ON a.id = b.id) SET a.c = 1', 'mysql'],
      // SELECT … INTO creates a table (PostgreSQL, SQL Server) or writes variables and files (MySQL).
      ['SELECT * INTO fresh FROM t', 'postgres'],
      ['(SELECT a INTO @a FROM t)', 'mysql'],
      ['SELECT a FROM t INTO OUTFILE "/tmp/a"', 'mysql'],
      // MySQL's multi-table DELETE, derived tables among UPDATE targets.
      ['DELETE a FROM a JOIN b ON a.x = b.x', 'mysql'],
      ['DELETE t1, t2 FROM t1 JOIN t2 ON t1.id = t2.id', 'mysql'],
      ['DELETE FROM t1, t2 USING t1 JOIN t2', 'mysql'],
      ['UPDATE t JOIN (SELECT 1 AS id) x ON t.id = x.id SET t.a = 1', 'mysql'],
      ['UPDATE OR WHATEVER t SET a = 1', 'sqlite'],
      ['TRUNCATE t, u WITH SOMETHING', 'postgres'],
      ['TRUNCATE', 'postgres'],
      // Unreadable text.
      ["UPDATE t SET a = 'unterminated", 'postgres'],
      ['/*! DELETE FROM u */ UPDATE t SET a = 1', 'mysql'],
    ] as const) {
      expect(one(sql, dialect).kind, sql).toBe('unknown')
    }
  })

  test('several statements, transaction control among them', () => {
    expect(parse('BEGIN; UPDATE t SET a = 1; COMMIT').map((statement) => statement.kind)).toStrictEqual([
      'begin',
      'update',
      'commit',
    ])
    expect(parse("UPDATE t SET a = 'x; DELETE FROM u'; ; -- ; trailing")).toHaveLength(1)
    expect(one('START TRANSACTION').kind).toBe('begin')
    expect(one('ROLLBACK').kind).toBe('rollback')
    expect(one('END').kind).toBe('commit')
    expect(parse('')).toStrictEqual([])
  })
})
