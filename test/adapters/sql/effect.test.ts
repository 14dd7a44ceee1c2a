// What a raw statement of an unknown dialect can change: it is read under the
// lexical rules of each dialect, and any disagreement means anything.
import { describe, expect, test } from 'vitest'
import { analyzeSql } from '../../../adapters/sql/effect.js'

describe('analyzeSql', () => {
  test.each([
    ['INSERT INTO "User" ("email") VALUES ($1)', 'user', 'insert'],
    ['insert into public."User" values (1)', 'user', 'insert'],
    ['INSERT IGNORE `db`.`orders` SET id = 1', 'orders', 'insert'],
    ['INSERT OR IGNORE INTO [Line] VALUES (?)', 'line', 'insert'],
    ['INSERT INTO t (a) SELECT a FROM u', 't', 'insert'],
    ['INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2', 't', 'write'],
    ['INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING', 't', 'write'],
    ['INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2', 't', 'write'],
    ['REPLACE INTO t VALUES (1)', 't', 'write'],
    ['INSERT OR REPLACE INTO t VALUES (1)', 't', 'write'],
    ['UPDATE "Post" SET "title" = $1 WHERE "id" = $2', 'post', 'write'],
    ['update only "s"."Post" as p set title = p.title || $1 from "User" u where u.id = p."authorId"', 'post', 'write'],
    ['UPDATE OR ROLLBACK t SET a = 1', 't', 'write'],
    ['UPDATE OR REPLACE t SET a = 1', 't', 'write'],
    ['DELETE FROM "Post" WHERE "id" = ANY($1)', 'post', 'write'],
    ['DELETE FROM t', 't', 'write'],
    ['DELETE LOW_PRIORITY FROM `t` WHERE a = 1 ORDER BY a LIMIT 10;', 't', 'write'],
    ['MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE', 't', 'write'],
    ['ALTER TABLE IF EXISTS ONLY "t" ADD COLUMN b int', 't', 'write'],
    ['TRUNCATE TABLE t', 't', 'write'],
    ["-- a comment\n/* another */ UPDATE t SET a = 'x; DELETE FROM u' -- ; trailing", 't', 'write'],
    ['UPDATE t SET a = $$ ; DELETE FROM u $$, b = $tag$;$tag$', 't', 'write'],
    ['UPDATE t SET a = 1 RETURNING *', 't', 'write'],
  ])('%s writes %s', (sql, table, change) => {
    expect(analyzeSql(sql)).toStrictEqual({ kind: 'tables', tables: [{ name: table, change }] })
  })

  test('multi-table forms name every table written', () => {
    expect(analyzeSql('UPDATE a JOIN b ON a.id = b.id SET a.x = 1, b.y = 2')).toMatchObject({
      tables: [{ name: 'a' }, { name: 'b' }],
    })
    expect(analyzeSql('UPDATE a, `b` SET a.x = 1')).toMatchObject({ tables: [{ name: 'a' }, { name: 'b' }] })
    expect(analyzeSql('TRUNCATE a, ONLY "B" RESTART IDENTITY')).toMatchObject({
      tables: [{ name: 'a' }, { name: 'b' }],
    })
    // PostgreSQL's USING only filters; MySQL's names tables to delete from: both count.
    expect(analyzeSql('delete from t as x using u where x.a = u.a returning x.*')).toMatchObject({
      tables: [{ name: 't' }, { name: 'u' }],
    })
  })

  test.each([
    'SELECT 1',
    'select * from "User" where id = $1 for update',
    '(SELECT 1) UNION (SELECT 2);',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'VALUES (1), (2)',
    // Issue 14: a write keyword that does not start a statement (a function, a name, a locking clause) is read.
    "WITH x AS (SELECT REPLACE(name, 'a', 'b') AS n FROM users) SELECT * FROM x",
    "(SELECT replace(name, 'a', 'b') FROM users) UNION (SELECT name FROM posts)",
    'WITH t AS (SELECT id FROM jobs FOR UPDATE SKIP LOCKED) SELECT * FROM t',
    'WITH t AS (SELECT id FROM jobs FOR NO KEY UPDATE NOWAIT) SELECT t.delete, t.update AS insert FROM t',
    'WITH t AS (SELECT insert(a, 1, 2, b), truncate(c, 2), s.merge(d) FROM u) SELECT * FROM t FOR UPDATE OF t',
  ])('%s reads', (sql) => {
    expect(analyzeSql(sql)).toEqual({ kind: 'read' })
  })

  test.each([
    'UPDATE t SET a = 1; DELETE FROM u',
    'SELECT 1; SELECT 2',
    'WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone',
    'WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x',
    'WITH x AS (SELECT 1) REPLACE INTO t SELECT * FROM x',
    'WITH x AS (SELECT 1) UPDATE (a JOIN b ON a.id = b.id) SET a.c = 1',
    '(WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d)',
    // SELECT … INTO creates a table (PostgreSQL, SQL Server) or writes variables and files (MySQL).
    'SELECT * INTO fresh FROM t',
    'WITH x AS (SELECT 1) SELECT * INTO fresh FROM x',
    'CALL cleanup()',
    'DO $$ BEGIN DELETE FROM t; END $$',
    'EXEC purge',
    'EXPLAIN ANALYZE DELETE FROM t',
    'EXPLAIN SELECT 1',
    'DELETE t1, t2 FROM t1 JOIN t2 ON t1.id = t2.id',
    'DELETE FROM t1, t2 USING t1 JOIN t2',
    'UPDATE t JOIN (SELECT 1 AS id) x ON t.id = x.id SET t.a = 1',
    'INSERT OR WHATEVER INTO t VALUES (1)',
    'TRUNCATE t CASCADE',
    'ALTER SEQUENCE s RESTART',
    'CREATE TABLE t (a int)',
    'DROP TABLE t',
    'RENAME TABLE a TO b',
    "COPY t FROM '/tmp/x'",
    'SET search_path TO x',
    'BEGIN',
    // A backslash ends the literal in PostgreSQL but not in MySQL: the dialects disagree.
    "UPDATE t SET a = 'x\\'; DELETE FROM u; --'",
    // Nested comments in PostgreSQL only.
    'UPDATE t SET a = 1 /* /* */ ; DELETE FROM u; */',
    // `--1` is not a comment in MySQL.
    'UPDATE t SET a = 1 --1; DELETE FROM u\n',
    '# MySQL comment\nUPDATE t SET a = 1',
    '/*! DELETE FROM u */ UPDATE t SET a = 1',
    '/*M! DELETE FROM u */ UPDATE t SET a = 1',
    "UPDATE t SET a = 'unterminated",
    '',
  ])('%s can change anything', (sql) => {
    expect(analyzeSql(sql)).toEqual({ kind: 'all' })
  })
})
