// schema.sql is written by hand (no schema engine offline): this keeps it in
// step with schema.prisma — every model's table with its scalar columns, the
// implicit many-to-many join table, and the referential actions.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { parseSchema } from '../../../adapters/prisma/schema-parser.js'
import { usePrismaFixture } from './fixture.js'

const fixture = usePrismaFixture('prisma-ddl')
const models = parseSchema(readFileSync(new URL('./schema.prisma', import.meta.url), 'utf8'))
const SCALARS = new Set(['Int', 'BigInt', 'String', 'Boolean', 'Float', 'Decimal', 'DateTime', 'Json', 'Bytes'])
const SQL_ACTIONS: Record<string, string> = { Cascade: 'CASCADE', SetNull: 'SET NULL', Restrict: 'RESTRICT' }

describe('schema.sql', () => {
  test('has a table per model with exactly its scalar fields, and the join table', async () => {
    const { rows } = await fixture.pool.query<{ table_name: string; column_name: string }>(
      'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()',
    )
    const tables = new Map<string, string[]>()
    for (const row of rows) tables.set(row.table_name, [...(tables.get(row.table_name) ?? []), row.column_name])
    for (const model of models) {
      const scalars = model.fields.filter((field) => SCALARS.has(field.type)).map((field) => field.name)
      expect(tables.get(model.name)?.sort(), model.name).toEqual(scalars.sort())
    }
    expect(tables.get('_PostToTag')?.sort()).toEqual(['A', 'B'])
  })

  test("has each relation's foreign key with the schema's onDelete and onUpdate", async () => {
    const { rows } = await fixture.pool.query<{ table_name: string; delete_rule: string; update_rule: string }>(
      `SELECT tc.table_name, rc.delete_rule, rc.update_rule
         FROM information_schema.referential_constraints rc
         JOIN information_schema.table_constraints tc
           ON tc.constraint_name = rc.constraint_name AND tc.constraint_schema = rc.constraint_schema
        WHERE rc.constraint_schema = current_schema() AND tc.table_name NOT LIKE '\\_%'`,
    )
    const expected = models.flatMap((model) =>
      model.fields
        .filter((field) => field.relation !== undefined && field.relation.fields.length > 0)
        .map((field) => ({
          table_name: model.name,
          delete_rule: SQL_ACTIONS[field.relation!.onDelete ?? (field.isOptional ? 'SetNull' : 'Restrict')],
          update_rule: SQL_ACTIONS[field.relation!.onUpdate ?? 'Cascade'],
        })),
    )
    const byTable = (a: { table_name: string }, b: { table_name: string }) => a.table_name.localeCompare(b.table_name)
    expect([...rows].sort(byTable)).toEqual(expected.sort(byTable))
  })
})
