// The behaviour suite on SQLite (better-sqlite3), a database file of its own.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { describeBehaviour } from './dialect-behaviour.js'
import { useDialectFixture } from './dialect-fixture.js'
import { PrismaClient } from './sqlite/generated/client.js'

const DDL = readFileSync(new URL('./sqlite/schema.sql', import.meta.url), 'utf8')
const TABLES = ['_PostToTag', 'Post', 'Profile', 'Tag', 'User']

let directory = ''
let file = ''

/** Runs statements on the database file through the driver adapter (its `executeScript`). */
async function script(sql: string): Promise<void> {
  const adapter = await new PrismaBetterSqlite3({ url: `file:${file}` }).connect()
  try {
    await adapter.executeScript(sql)
  } finally {
    await adapter.dispose()
  }
}

const fixture = useDialectFixture('prisma-sqlite', {
  async setup() {
    directory = mkdtempSync(join(tmpdir(), 'ormcache-prisma-sqlite-'))
    file = join(directory, 'test.db')
    await script(DDL)
  },
  adapter: () => new PrismaBetterSqlite3({ url: `file:${file}` }),
  client: (adapter) => new PrismaClient({ adapter }),
  async reset() {
    await script(`${TABLES.map((table) => `DELETE FROM "${table}";`).join('\n')}\nDELETE FROM sqlite_sequence;`)
  },
  schema: new URL('./sqlite/schema.prisma', import.meta.url),
  inspect: {
    columns: `SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p
                WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`,
    foreignKeys: `SELECT m.name AS t, f.on_delete AS d, f.on_update AS u FROM sqlite_master m
                    JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`,
  },
  async teardown() {
    if (directory !== '') rmSync(directory, { recursive: true, force: true })
  },
})

describeBehaviour(fixture, (identifier) => `"${identifier}"`)
