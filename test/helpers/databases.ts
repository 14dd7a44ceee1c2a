// Tests that need tables get a schema (PostgreSQL) or database (MariaDB) of
// their own inside the shared `test` database, and drop only that.
import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { mysqlUrl, postgresUrl } from './services.js'

export interface PgSchema extends AsyncDisposable {
  /** Schema name, `t_<label>_<random>`. */
  readonly schema: string
  /** The PostgreSQL URL with `?schema=<schema>` (Prisma's convention). */
  readonly url: string
  /** Drops the schema with everything in it; safe to call twice. */
  drop(): Promise<void>
}

export interface MysqlDatabase extends AsyncDisposable {
  /** Database name, `t_<label>_<random>`. */
  readonly database: string
  /** The MariaDB URL pointing at this database. */
  readonly url: string
  /** Drops the database; safe to call twice. */
  drop(): Promise<void>
}

/** Creates a private PostgreSQL schema in the test database. */
export async function createPgSchema(label: string): Promise<PgSchema> {
  const baseUrl = await postgresUrl()
  const schema = uniqueIdentifier(label)
  await runPg(baseUrl, `CREATE SCHEMA "${schema}"`)
  const url = new URL(baseUrl)
  url.searchParams.set('schema', schema)
  const drop = () => runPg(baseUrl, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  return { schema, url: url.toString(), drop, [Symbol.asyncDispose]: drop }
}

/** Creates a private MariaDB database next to the test database. */
export async function createMysqlDatabase(label: string): Promise<MysqlDatabase> {
  const baseUrl = await mysqlUrl()
  const database = uniqueIdentifier(label)
  await runMysql(baseUrl, `CREATE DATABASE \`${database}\``)
  const url = new URL(baseUrl)
  url.pathname = `/${database}`
  const drop = () => runMysql(baseUrl, `DROP DATABASE IF EXISTS \`${database}\``)
  return { database, url: url.toString(), drop, [Symbol.asyncDispose]: drop }
}

// Lower case letters, digits and underscores only, so the name needs no
// escaping beyond quotes and stays within both databases' 63-byte limit.
function uniqueIdentifier(label: string): string {
  const safeLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .slice(0, 40)
  return `t_${safeLabel}_${randomBytes(6).toString('hex')}`
}

async function runPg(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

async function runMysql(url: string, statement: string): Promise<void> {
  const connection = await mysql.createConnection(url)
  try {
    await connection.query(statement)
  } finally {
    await connection.end()
  }
}
