// The databases the dialect suites run on, each a `Backend`: a database of its
// own (a SQLite file, a MariaDB database, a PostgreSQL schema) with the tables
// of its checked-in schema.sql.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import { PrismaPg } from '@prisma/adapter-pg'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { createMysqlDatabase, createPgSchema, type MysqlDatabase, type PgSchema } from '../../helpers/databases.js'
import { postgresUrl } from '../../helpers/services.js'
import type { Backend, RelationClient } from './dialect-fixture.js'
import { PrismaClient as PostgresClient } from './generated/client.js'
import { PrismaClient as MariaDbClient } from './mariadb/generated/client.js'
import { PrismaClient as SqliteClient } from './sqlite/generated/client.js'

/** Every table of the schemas, children before parents. */
export const TABLES = ['_PostToTag', 'Membership', 'Post', 'Profile', 'Tag', 'Group', 'User', 'Sample']

export type DialectBackend = Backend & {
  /** Quotes an identifier in the dialect's raw SQL. */
  quote(identifier: string): string
  /** The placeholder of the `position`th (from 1) bound value in the dialect's raw SQL. */
  parameter(position: number): string
}

/** A SQLite database file (better-sqlite3) in a temporary directory. */
export function sqliteBackend(): DialectBackend {
  const ddl = readFileSync(new URL('./sqlite/schema.sql', import.meta.url), 'utf8')
  let directory = ''
  let file = ''
  // Runs statements on the database file through the driver adapter (its `executeScript`).
  async function script(sql: string): Promise<void> {
    const adapter = await new PrismaBetterSqlite3({ url: `file:${file}` }).connect()
    try {
      await adapter.executeScript(sql)
    } finally {
      await adapter.dispose()
    }
  }
  return {
    async setup() {
      directory = mkdtempSync(join(tmpdir(), 'ormcache-prisma-sqlite-'))
      file = join(directory, 'test.db')
      await script(ddl)
    },
    adapter: () => new PrismaBetterSqlite3({ url: `file:${file}` }),
    client: (adapter) => new SqliteClient({ adapter }),
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
    quote: (identifier) => `"${identifier}"`,
    parameter: () => '?',
  }
}

/** A MariaDB database of its own next to the shared `test` one. */
export function mariadbBackend(label: string): DialectBackend {
  const ddl = readFileSync(new URL('./mariadb/schema.sql', import.meta.url), 'utf8')
  let database: MysqlDatabase | undefined
  async function run(sql: string): Promise<void> {
    const connection = await mysql.createConnection({ uri: database!.url, multipleStatements: true })
    try {
      await connection.query(sql)
    } finally {
      await connection.end()
    }
  }
  return {
    async setup() {
      database = await createMysqlDatabase(label)
      await run(ddl)
    },
    adapter: () => {
      const url = new URL(database!.url)
      return new PrismaMariaDb({
        host: url.hostname,
        port: Number(url.port || 3306),
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: database!.database,
        connectionLimit: 4,
      })
    },
    // Generated from the same models as the SQLite client: the same types but for the provider.
    client: (adapter) => new MariaDbClient({ adapter }) as unknown as RelationClient,
    async reset() {
      const truncate = TABLES.map((table) => `TRUNCATE TABLE \`${table}\`;`).join(' ')
      await run(`SET FOREIGN_KEY_CHECKS = 0; ${truncate} SET FOREIGN_KEY_CHECKS = 1;`)
    },
    schema: new URL('./mariadb/schema.prisma', import.meta.url),
    inspect: {
      columns: `SELECT table_name AS t, column_name AS c FROM information_schema.columns
                  WHERE table_schema = DATABASE()`,
      foreignKeys: `SELECT table_name AS t, delete_rule AS d, update_rule AS u
                      FROM information_schema.referential_constraints WHERE constraint_schema = DATABASE()`,
    },
    async teardown() {
      await database?.drop()
    },
    quote: (identifier) => `\`${identifier}\``,
    parameter: () => '?',
  }
}

/** A pool whose every connection sees only `schema`, raw SQL included. */
export function postgresPool(url: string, schema: string): pg.Pool {
  return new pg.Pool({ connectionString: url, options: `-c search_path="${schema}"`, max: 8 })
}

/** A PostgreSQL schema of its own in the shared `test` database; other processes reach it by `connection()`. */
export function postgresBackend(label: string): DialectBackend & { connection(): { url: string; schema: string } } {
  const ddl = readFileSync(new URL('./schema.sql', import.meta.url), 'utf8')
  let schema: PgSchema | undefined
  let pool: pg.Pool | undefined
  let url = ''
  return {
    async setup() {
      schema = await createPgSchema(label)
      url = await postgresUrl()
      pool = postgresPool(url, schema.schema)
      await pool.query(ddl)
    },
    adapter: () => new PrismaPg(pool!, { schema: schema!.schema }),
    // Generated from the same models as the SQLite client: the same types but for the provider.
    client: (adapter) => new PostgresClient({ adapter }) as unknown as RelationClient,
    async reset() {
      await pool!.query(`TRUNCATE ${TABLES.map((table) => `"${table}"`).join(', ')} RESTART IDENTITY CASCADE`)
    },
    schema: new URL('./schema.prisma', import.meta.url),
    inspect: {
      columns: `SELECT table_name AS t, column_name AS c FROM information_schema.columns
                  WHERE table_schema = current_schema()`,
      foreignKeys: `SELECT tc.table_name AS t, rc.delete_rule AS d, rc.update_rule AS u
                      FROM information_schema.referential_constraints rc
                      JOIN information_schema.table_constraints tc
                        ON tc.constraint_name = rc.constraint_name AND tc.constraint_schema = rc.constraint_schema
                     WHERE rc.constraint_schema = current_schema()`,
    },
    async teardown() {
      await pool?.end()
      await schema?.drop()
    },
    quote: (identifier) => `"${identifier}"`,
    parameter: (position) => `$${position}`,
    connection: () => ({ url, schema: schema!.schema }),
  }
}
