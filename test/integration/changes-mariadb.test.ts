// MariaDB's change stream (the row binlog) on a private server started with log_bin and
// binlog_format = ROW: the shared suite (change-stream-suite.ts), then what only the binlog has:
// foreign-key actions it does not log, statements (DDL, TRUNCATE) instead of rows, and servers or
// users that cannot stream.
import { readFileSync } from 'node:fs'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import mysql from 'mysql2/promise'
import { describe, expect, test } from 'vitest'
import { createCache } from '../../src/index.js'
import { TABLES } from '../adapters/prisma/backends.js'
import type { PrismaClient } from '../adapters/prisma/generated/client.js'
import { PrismaClient as MariaDbClient } from '../adapters/prisma/mariadb/generated/client.js'
import { TEST_REDIS_TIMEOUT } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { useResource } from '../helpers/lifecycle.js'
import { startMariadb } from '../helpers/mariadb-server.js'
import { mysqlUrl, redisUrl } from '../helpers/services.js'
import { type CachedPrisma, changeStreamSuite, extendWithCache, FRESH_WITHIN_MS } from './change-stream-suite.js'

const server = useResource(() => startMariadb())
const SCHEMA_SQL = readFileSync(new URL('../adapters/prisma/mariadb/schema.sql', import.meta.url), 'utf8')
let sql: mysql.Connection | undefined

function prismaOn(databaseUrl: string) {
  const url = new URL(databaseUrl)
  const adapter = new PrismaMariaDb({
    host: url.hostname,
    port: Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
    connectionLimit: 2,
  })
  // Generated from the same models as the PostgreSQL client: the same API, typed as that one.
  return new MariaDbClient({ adapter }) as unknown as PrismaClient
}

const suite = changeStreamSuite({
  name: 'mariadb',
  async setup() {
    const url = await server().createDatabase('app')
    sql = await connect(url)
    await sql.query(SCHEMA_SQL)
    // A trigger: a post written anywhere renames its author, a write no ORM call makes.
    await sql.query(`CREATE TRIGGER post_marks_author AFTER INSERT ON \`Post\` FOR EACH ROW
      UPDATE \`User\` SET \`name\` = CONCAT('author of ', NEW.\`title\`) WHERE \`id\` = NEW.\`authorId\``)
    return url
  },
  async teardown() {
    await sql?.end()
  },
  sql: (statement) => query(statement),
  async reset() {
    await query(
      `SET FOREIGN_KEY_CHECKS = 0; ${TABLES.map((table) => `TRUNCATE TABLE "${table}";`).join(' ')} SET FOREIGN_KEY_CHECKS = 1`,
    )
  },
  prisma: (databaseUrl, options) => extendWithCache(prismaOn(databaseUrl), options),
  typeorm: (url, entities) => ({ type: 'mariadb', url, entities, poolSize: 2 }),
  insertTags: (count) =>
    `SET SESSION max_recursive_iterations = ${count}; INSERT INTO "Tag" ("name") WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count}) SELECT CONCAT('tag-', i) FROM n`,
  async crashAndRestart() {
    sql?.destroy()
    await server().kill()
    await server().restart()
    sql = await connect(suite.databaseUrl())
  },
})

async function connect(url: string): Promise<mysql.Connection> {
  const connection = await mysql.createConnection({ uri: url, multipleStatements: true })
  // The suite's statements quote identifiers as the SQL standard does.
  await connection.query(`SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')`)
  return connection
}

async function query(statement: string): Promise<unknown> {
  if (sql === undefined) throw new Error('the database is not set up yet')
  const [result] = await sql.query(statement)
  return result
}

/** Runs `statement` and resolves once the streaming `client` has invalidated what it changed. */
async function written(client: CachedPrisma, statement: string): Promise<void> {
  const transactions = client.$cache.stats().changes?.transactions ?? 0
  await query(statement)
  await until(
    () => (client.$cache.stats().changes?.transactions ?? 0) > transactions,
    () => `the stream to invalidate: ${statement}`,
    FRESH_WITHIN_MS,
  )
}

async function servedFromMemory<T>(client: CachedPrisma, read: () => Promise<T>): Promise<T> {
  await read()
  const { data, info } = await client.$cache.withInfo(read)
  expect(info.origin).toBe('l1')
  return data
}

describe('what the binlog does not say in rows', () => {
  test('a foreign-key action the engine runs unlogged (ON UPDATE CASCADE) evicts the child table', async () => {
    const client = suite.app(suite.prefix('changes-fk-update'))
    await until(() => client.$cache.stats().changes?.state === 'streaming', 'the stream', 15_000)
    await written(client, `INSERT INTO "User" ("email") VALUES ('ada@example.com')`)
    await written(client, `INSERT INTO "Post" ("title", "authorId") VALUES ('Notes', 1)`)
    const author = () => client.post.findUnique({ where: { id: 1 }, select: { authorId: true } })
    expect(await servedFromMemory(client, author)).toEqual({ authorId: 1 })
    // The binlog logs the User row only; InnoDB rewrites "Post"."authorId" without a row event.
    await written(client, `UPDATE "User" SET "id" = 7 WHERE "id" = 1`)
    expect(await author()).toEqual({ authorId: 7 })
    // An update that leaves the referenced key alone changes no child: the post stays cached.
    expect(await servedFromMemory(client, author)).toEqual({ authorId: 7 })
    await written(client, `UPDATE "User" SET "name" = 'Ada' WHERE "id" = 7`)
    const { info } = await client.$cache.withInfo(author)
    expect(info.origin).toBe('l1')
  })

  test('statements (TRUNCATE, ALTER TABLE) evict everything of the database', async () => {
    const client = suite.app(suite.prefix('changes-ddl'))
    await until(() => client.$cache.stats().changes?.state === 'streaming', 'the stream', 15_000)
    const insert = (id: number, label: string) =>
      `INSERT INTO "Sample" ("id", "amount", "at", "bytes", "json", "label") VALUES (${id}, 1.5, NOW(3), X'00', '{}', '${label}')`
    await written(client, insert(1, 'a'))
    const labels = () => client.sample.findMany({ select: { label: true } })
    expect(await servedFromMemory(client, labels)).toEqual([{ label: 'a' }])
    await written(client, `TRUNCATE TABLE "Sample"`)
    expect(await labels()).toEqual([])
    await written(client, insert(2, 'b'))
    expect(await servedFromMemory(client, labels)).toEqual([{ label: 'b' }])
    await written(client, `ALTER TABLE "Sample" ADD COLUMN "note" VARCHAR(10) NULL`)
    try {
      const { info } = await client.$cache.withInfo(labels)
      expect(info.origin).toBe('database')
    } finally {
      await written(client, `ALTER TABLE "Sample" DROP COLUMN "note"`)
    }
  })
})

describe('what cannot stream is said, not hidden', () => {
  test('a user without replication rights: the stream is down, and the reason names the grant', async () => {
    const reader = new URL(await server().createUser('reader', 'SELECT'))
    reader.pathname = '/app'
    const client = suite.app(suite.prefix('changes-rights'), reader.toString())
    await until(() => client.$cache.stats().changes?.state === 'down', 'the stream to be reported down', 15_000)
    expect(client.$cache.stats().changes?.error).toMatch(/GRANT REPLICATION SLAVE/)
    expect(await client.user.count()).toBe(0)
  })

  test('a server without a binary log: the stream is down, the reason names log_bin', async () => {
    const cache = createCache({
      redis: await redisUrl(),
      prefix: suite.prefix('changes-nobinlog'),
      timeout: TEST_REDIS_TIMEOUT,
      changes: await mysqlUrl(),
    })
    try {
      await until(() => cache.stats().changes?.state === 'down', 'the stream to be reported down', 15_000)
      expect(cache.stats().changes?.error).toMatch(/no binary log.*log_bin and binlog_format = ROW/)
    } finally {
      await cache.close()
    }
  })
})
