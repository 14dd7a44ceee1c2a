// Which models a raw SQL statement invalidates: the statement reader on the
// forms of each dialect, and the tables it names mapped to models.
import { describe, expect, test } from 'vitest'
import { rawWriteTags } from '../../../adapters/prisma/raw.js'
import { RelationGraph, type RuntimeDataModel } from '../../../adapters/prisma/relations.js'
import { parseSchema } from '../../../adapters/prisma/schema-parser.js'
import { analyzeSql } from '../../../adapters/prisma/sql-statement.js'
import { modelTag, wholeModelTags } from '../../../adapters/prisma/tag-names.js'
import { allModelTags } from '../../../adapters/prisma/write-tags.js'

const SCHEMA = `
model Account {
  id     Int     @id
  email  String
  orders Order[]
  groups Group[] @relation("members")
  @@map("accounts")
}
model Order {
  id        Int     @id
  accountId Int
  account   Account @relation(fields: [accountId], references: [id], onDelete: Cascade)
  lines     Line[]
  @@map("orders")
}
model Line {
  id      Int    @id
  orderId Int?
  order   Order? @relation(fields: [orderId], references: [id], onDelete: SetNull)
}
model Group {
  id      Int       @id
  members Account[] @relation("members")
}
model Audit {
  id Int @id
}
`

type FieldSpec = [name: string, kind: string, type: string, relationName?: string]
const RUNTIME: RuntimeDataModel = {
  models: Object.fromEntries(
    (
      [
        [
          'Account',
          'accounts',
          [
            ['id', 'scalar', 'Int'],
            ['email', 'scalar', 'String'],
            ['orders', 'object', 'Order', 'AccountToOrder'],
            ['groups', 'object', 'Group', 'members'],
          ],
        ],
        [
          'Order',
          'orders',
          [
            ['id', 'scalar', 'Int'],
            ['accountId', 'scalar', 'Int'],
            ['account', 'object', 'Account', 'AccountToOrder'],
            ['lines', 'object', 'Line', 'LineToOrder'],
          ],
        ],
        [
          'Line',
          null,
          [
            ['id', 'scalar', 'Int'],
            ['orderId', 'scalar', 'Int'],
            ['order', 'object', 'Order', 'LineToOrder'],
          ],
        ],
        [
          'Group',
          null,
          [
            ['id', 'scalar', 'Int'],
            ['members', 'object', 'Account', 'members'],
          ],
        ],
        ['Audit', null, [['id', 'scalar', 'Int']]],
      ] as [string, string | null, FieldSpec[]][]
    ).map(([name, dbName, fields]) => [
      name,
      {
        dbName,
        fields: fields.map(([field, kind, type, relationName]) => ({ name: field, kind, type, relationName })),
      },
    ]),
  ),
}
const graph = new RelationGraph(RUNTIME, parseSchema(SCHEMA), 'postgresql')
const whole = (...models: string[]) => models.flatMap(wholeModelTags).sort()
const tagsOf = (sql: string) => rawWriteTags(graph, '$executeRawUnsafe', [sql])

describe('analyzeSql', () => {
  test.each([
    ['INSERT INTO "User" ("email") VALUES ($1)', 'User', 'insert'],
    ['insert into public."User" values (1)', 'User', 'insert'],
    ['INSERT IGNORE `db`.`orders` SET id = 1', 'orders', 'insert'],
    ['INSERT OR IGNORE INTO [Line] VALUES (?)', 'Line', 'insert'],
    ['INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2', 't', 'write'],
    ['INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2', 't', 'write'],
    ['REPLACE INTO t VALUES (1)', 't', 'write'],
    ['INSERT OR REPLACE INTO t VALUES (1)', 't', 'write'],
    ['UPDATE "Post" SET "title" = $1 WHERE "id" = $2', 'Post', 'write'],
    ['update only "s"."Post" as p set title = p.title || $1 from "User" u where u.id = p."authorId"', 'Post', 'write'],
    ['UPDATE OR ROLLBACK t SET a = 1', 't', 'write'],
    ['DELETE FROM "Post" WHERE "id" = ANY($1)', 'Post', 'write'],
    ['delete from t as x using u where x.a = u.a returning x.*', 't', 'write'],
    ['DELETE FROM t', 't', 'write'],
    ['DELETE LOW_PRIORITY FROM `t` WHERE a = 1 ORDER BY a LIMIT 10;', 't', 'write'],
    ['MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE', 't', 'write'],
    ['ALTER TABLE IF EXISTS ONLY "t" ADD COLUMN b int', 't', 'write'],
    ['TRUNCATE TABLE t', 't', 'write'],
    ["-- a comment\n/* another */ UPDATE t SET a = 'x; DELETE FROM u' -- ; trailing", 't', 'write'],
    ['UPDATE t SET a = $$ ; DELETE FROM u $$, b = $tag$;$tag$', 't', 'write'],
  ])('%s writes %s', (sql, table, change) => {
    expect(analyzeSql(sql)).toMatchObject({ kind: 'tables', tables: [{ name: table, change }] })
  })

  test('multi-table forms name every table written', () => {
    expect(analyzeSql('UPDATE a JOIN b ON a.id = b.id SET a.x = 1, b.y = 2')).toMatchObject({
      tables: [{ name: 'a' }, { name: 'b' }],
    })
    expect(analyzeSql('UPDATE a, `b` SET a.x = 1')).toMatchObject({ tables: [{ name: 'a' }, { name: 'b' }] })
    expect(analyzeSql('TRUNCATE a, ONLY "B" RESTART IDENTITY')).toMatchObject({
      tables: [{ name: 'a' }, { name: 'B', quoted: true }],
    })
  })

  test.each([
    'SELECT 1',
    'select * from "User" where id = $1 for update',
    '(SELECT 1) UNION (SELECT 2);',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'VALUES (1), (2)',
  ])('%s reads', (sql) => {
    expect(analyzeSql(sql)).toEqual({ kind: 'read' })
  })

  test.each([
    'UPDATE t SET a = 1; DELETE FROM u',
    'SELECT 1; SELECT 2',
    'WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone',
    'WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x',
    'CALL cleanup()',
    'DO $$ BEGIN DELETE FROM t; END $$',
    'EXPLAIN ANALYZE DELETE FROM t',
    'DELETE t1, t2 FROM t1 JOIN t2 ON t1.id = t2.id',
    'DELETE FROM t1, t2 USING t1 JOIN t2',
    'UPDATE t JOIN (SELECT 1 AS id) x ON t.id = x.id SET t.a = 1',
    'TRUNCATE t CASCADE',
    'ALTER SEQUENCE s RESTART',
    'CREATE TABLE t (a int)',
    'DROP TABLE t',
    // A backslash ends the literal in PostgreSQL but not in MySQL: the dialects disagree.
    "UPDATE t SET a = 'x\\'; DELETE FROM u; --'",
    // Nested comments in PostgreSQL only.
    'UPDATE t SET a = 1 /* /* */ ; DELETE FROM u; */',
    // `--1` is not a comment in MySQL.
    'UPDATE t SET a = 1 --1; DELETE FROM u\n',
    '# MySQL comment\nUPDATE t SET a = 1',
    '/*! DELETE FROM u */ UPDATE t SET a = 1',
    "UPDATE t SET a = 'unterminated",
    '',
  ])('%s can change anything', (sql) => {
    expect(analyzeSql(sql)).toEqual({ kind: 'all' })
  })
})

describe('rawWriteTags', () => {
  test('an @@map table name is its model, matched case-insensitively and schema-qualified', () => {
    expect(tagsOf('INSERT INTO "accounts" ("id", "email") VALUES (1, $1)')).toEqual(whole('Account'))
    expect(tagsOf('insert into public.ACCOUNTS values (1)')).toEqual(whole('Account'))
    // The model name is not the table name when mapped; an unknown table invalidates nothing.
    expect(tagsOf('INSERT INTO "Account" VALUES (1)')).toEqual([])
    expect(tagsOf('INSERT INTO "Audit" VALUES (1)')).toEqual(whole('Audit'))
  })

  test('updates and deletes add the models their referential actions change', () => {
    // accounts → orders (Cascade) → Line (SetNull).
    expect(tagsOf('DELETE FROM accounts WHERE id = 1')).toEqual(whole('Account', 'Order', 'Line'))
    expect(tagsOf('UPDATE orders SET id = 2 WHERE id = 1')).toEqual(whole('Order', 'Line'))
    expect(tagsOf('DELETE FROM "Line"')).toEqual(whole('Line'))
    // An insert changes no other row; an upsert may.
    expect(tagsOf('INSERT INTO orders VALUES (1, 1)')).toEqual(whole('Order'))
    expect(tagsOf('INSERT INTO orders VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET id = 3')).toEqual(
      whole('Order', 'Line'),
    )
  })

  test('an implicit many-to-many join table evicts reads across the relation on both sides', () => {
    expect(tagsOf('INSERT INTO "_members" ("A", "B") VALUES (1, 2)')).toEqual([modelTag('Account'), modelTag('Group')])
    expect(tagsOf('DELETE FROM "_members" WHERE "A" = 1')).toEqual([modelTag('Account'), modelTag('Group')])
  })

  test('a multi-table statement unions its tables; what cannot be read invalidates everything', () => {
    expect(tagsOf('UPDATE "Line" l JOIN "Audit" a ON a.id = l.id SET l.id = 1')).toEqual(whole('Line', 'Audit'))
    expect(tagsOf('CALL purge()')).toEqual(allModelTags(graph))
    expect(tagsOf('UPDATE accounts SET email = 1; UPDATE "Audit" SET id = 1')).toEqual(allModelTags(graph))
    expect(rawWriteTags(graph, '$executeRawUnsafe', [42])).toEqual(allModelTags(graph))
    expect(rawWriteTags(graph, '$runCommandRaw', { delete: 'accounts' })).toEqual(allModelTags(graph))
  })

  test('a SELECT invalidates nothing through $queryRaw, everything through $executeRaw', () => {
    const sql = { strings: ['SELECT * FROM accounts WHERE id = ', ''], values: [1] }
    expect(rawWriteTags(graph, '$queryRaw', sql)).toBeUndefined()
    expect(rawWriteTags(graph, '$queryRawTyped', { sql: 'SELECT 1' })).toBeUndefined()
    expect(rawWriteTags(graph, '$executeRaw', sql)).toEqual(allModelTags(graph))
    expect(rawWriteTags(graph, '$queryRawUnsafe', ['UPDATE accounts SET email = $1 RETURNING id', 'x'])).toEqual(
      whole('Account', 'Order', 'Line'),
    )
  })

  test('without the parsed schema, an unknown table starting with _ may be a join table: everything', () => {
    const blind = new RelationGraph(RUNTIME, undefined, 'postgresql')
    expect(rawWriteTags(blind, '$executeRawUnsafe', ['DELETE FROM "_members"'])).toEqual(allModelTags(blind))
    expect(rawWriteTags(blind, '$executeRawUnsafe', ['DELETE FROM "other"'])).toEqual([])
  })
})
