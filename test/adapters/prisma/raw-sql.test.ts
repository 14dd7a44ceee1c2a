// Which models a raw SQL statement invalidates: the tables it names (read by
// adapters/sql, tested in test/adapters/sql) mapped to models.
import { describe, expect, test } from 'vitest'
import { rawWriteTags } from '../../../adapters/prisma/raw.js'
import { RelationGraph, type RuntimeDataModel } from '../../../adapters/prisma/relations.js'
import { parseSchema } from '../../../adapters/prisma/schema-parser.js'
import { modelTag, wholeModelTags } from '../../../adapters/prisma/tag-names.js'
import { allModelTags } from '../../../adapters/prisma/write-tags.js'
import { wholeTableTags } from '../../../src/table-tags.js'

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
const whole = (...models: string[]) => models.flatMap((model) => wholeModelTags(graph, model)).sort()
const tagsOf = (sql: string) => rawWriteTags(graph, '$executeRawUnsafe', [sql])

describe('rawWriteTags', () => {
  test('an @@map table name is its model, matched case-insensitively and schema-qualified', () => {
    expect(tagsOf('INSERT INTO "accounts" ("id", "email") VALUES (1, $1)')).toEqual(whole('Account'))
    expect(tagsOf('insert into public.ACCOUNTS values (1)')).toEqual(whole('Account'))
    // The model name is not the table name when mapped; an unknown table invalidates its own tags
    // only (reads of it through another ORM sharing the prefix).
    expect(tagsOf('INSERT INTO "Account" VALUES (1)')).toEqual(wholeTableTags('Account'))
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
    // The join table's own tags too: reads of it through another ORM.
    const acrossTheRelation = [
      modelTag(graph, 'Account'),
      modelTag(graph, 'Group'),
      ...wholeTableTags('_members'),
    ].sort()
    expect(tagsOf('INSERT INTO "_members" ("A", "B") VALUES (1, 2)')).toEqual(acrossTheRelation)
    expect(tagsOf('DELETE FROM "_members" WHERE "A" = 1')).toEqual(acrossTheRelation)
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

  test('a read whose write keywords start no statement invalidates nothing (issue 14)', () => {
    for (const sql of [
      "WITH x AS (SELECT REPLACE(email, 'a', 'b') AS n FROM accounts) SELECT * FROM x",
      "(SELECT replace(email, 'a', 'b') FROM accounts) UNION (SELECT email FROM accounts)",
      'WITH t AS (SELECT id FROM orders FOR UPDATE SKIP LOCKED) SELECT * FROM t',
    ]) {
      expect(rawWriteTags(graph, '$queryRawUnsafe', [sql]), sql).toBeUndefined()
    }
    expect(tagsOf('WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d')).toEqual(allModelTags(graph))
  })

  test('without the parsed schema, an unknown table starting with _ may be a join table: everything', () => {
    const blind = new RelationGraph(RUNTIME, undefined, 'postgresql')
    expect(rawWriteTags(blind, '$executeRawUnsafe', ['DELETE FROM "_members"'])).toEqual(allModelTags(blind))
    expect(rawWriteTags(blind, '$executeRawUnsafe', ['DELETE FROM "other"'])).toEqual(wholeTableTags('other'))
  })
})
