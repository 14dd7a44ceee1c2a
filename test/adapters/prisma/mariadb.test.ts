// The behaviour suite on MariaDB, a database of its own next to the shared `test` one.
import { readFileSync } from 'node:fs'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import mysql from 'mysql2/promise'
import { createMysqlDatabase, type MysqlDatabase } from '../../helpers/databases.js'
import { describeBehaviour } from './dialect-behaviour.js'
import { type RelationClient, useDialectFixture } from './dialect-fixture.js'
import { PrismaClient } from './mariadb/generated/client.js'

const DDL = readFileSync(new URL('./mariadb/schema.sql', import.meta.url), 'utf8')
const TABLES = ['_PostToTag', 'Post', 'Profile', 'Tag', 'User']

let database: MysqlDatabase | undefined

async function run(sql: string): Promise<void> {
  const connection = await mysql.createConnection({ uri: database!.url, multipleStatements: true })
  try {
    await connection.query(sql)
  } finally {
    await connection.end()
  }
}

const fixture = useDialectFixture('prisma-mariadb', {
  async setup() {
    database = await createMysqlDatabase('prisma-mariadb')
    await run(DDL)
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
  client: (adapter) => new PrismaClient({ adapter }) as unknown as RelationClient,
  async reset() {
    await run(
      `SET FOREIGN_KEY_CHECKS = 0; ${TABLES.map((table) => `TRUNCATE TABLE \`${table}\`;`).join(' ')} SET FOREIGN_KEY_CHECKS = 1;`,
    )
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
})

describeBehaviour(fixture, (identifier) => `\`${identifier}\``)
