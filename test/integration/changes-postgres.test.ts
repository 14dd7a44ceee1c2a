// Writes nobody told the cache about (plain SQL, a trigger, a foreign-key cascade) reach every
// instance's cached reads through PostgreSQL's change stream: two Prisma clients, each with its own
// cache on one Redis prefix (two instances of an app), on a private PostgreSQL started with
// wal_level = logical. One instance follows the stream, the other stands by and takes over.

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { PrismaPg } from '@prisma/adapter-pg'
import { Redis } from 'ioredis'
import pg from 'pg'
import * as typeorm from 'typeorm'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { prismaCache } from '../../adapters/prisma/index.js'
import { cacheOf, withCache } from '../../adapters/typeorm/index.js'
import { createCache } from '../../src/index.js'
import { PrismaClient } from '../adapters/prisma/generated/client.js'
import { TEST_REDIS_TIMEOUT } from '../fixtures/redis-cache.js'
import { forkWatched, until } from '../fixtures/wait.js'
import { useResource } from '../helpers/lifecycle.js'
import { startPostgres } from '../helpers/postgres-server.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { postgresUrl, redisUrl } from '../helpers/services.js'

const server = useResource(() => startPostgres())
const CONSUMER_SCRIPT = fileURLToPath(new URL('../fixtures/change-consumer.mjs', import.meta.url))
const SCHEMA_SQL = readFileSync(new URL('../adapters/prisma/schema.sql', import.meta.url), 'utf8')
/** Far above the stream's lag here (milliseconds): a write that never arrives fails at this deadline. */
const FRESH_WITHIN_MS = 10_000

const UserEntity = new typeorm.EntitySchema<{ id: number; email: string; name: string | null }>({
  name: 'User',
  tableName: 'User',
  columns: {
    id: { type: Number, primary: true, generated: true },
    email: { type: String },
    name: { type: String, nullable: true },
  },
})

let databaseUrl: string
let sql: pg.Client
const prefixes: string[] = []
const clients: { $disconnect(): Promise<void> }[] = []

function instance(prefix: string) {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: 2 })
  const client = new PrismaClient({ adapter }).$extends(
    prismaCache({ redis: redisUrlValue, prefix, timeout: TEST_REDIS_TIMEOUT, changes: databaseUrl }),
  )
  clients.push(client)
  return client
}
type Instance = ReturnType<typeof instance>

let redisUrlValue: string

beforeAll(async () => {
  redisUrlValue = await redisUrl()
  databaseUrl = await server().createDatabase('app')
  sql = new pg.Client({ connectionString: databaseUrl })
  await sql.connect()
  await sql.query(SCHEMA_SQL)
  // A trigger: a post written anywhere renames its author, a write no ORM call makes.
  await sql.query(`
    CREATE FUNCTION mark_author() RETURNS trigger AS $$
    BEGIN UPDATE "User" SET "name" = 'author of ' || NEW."title" WHERE "id" = NEW."authorId"; RETURN NEW; END
    $$ LANGUAGE plpgsql;
    CREATE TRIGGER post_marks_author AFTER INSERT ON "Post" FOR EACH ROW EXECUTE FUNCTION mark_author();
    CREATE TABLE "AuditLine" ("line" TEXT NOT NULL);`)
})

afterEach(async () => {
  for (const client of clients.splice(0)) await client.$disconnect()
  const admin = new Redis(redisUrlValue)
  for (const prefix of prefixes.splice(0)) await deleteKeysWithPrefix(admin, prefix)
  admin.disconnect()
  await sql.query(
    `TRUNCATE "User", "Post", "Profile", "Group", "Membership", "Tag", "_PostToTag" RESTART IDENTITY CASCADE`,
  )
})

afterAll(async () => {
  await sql?.end()
})

interface Pair {
  readonly streaming: Instance
  readonly standby: Instance
  readonly both: readonly Instance[]
  /**
   * Runs SQL outside the app and resolves once the stream has invalidated it on the consumer and
   * the bus has carried that to the standby: what a test does next meets the cache after the write.
   */
  write(statement: string): Promise<void>
}

/** Two instances of one app; resolves once one follows the stream and the other stands by. */
async function twoInstances(label: string): Promise<Pair> {
  const prefix = uniquePrefix(label)
  prefixes.push(prefix)
  const streaming = instance(prefix)
  await until(() => streaming.$cache.stats().changes?.state === 'streaming', 'the first instance to stream', 15_000)
  const standby = instance(prefix)
  await until(() => standby.$cache.stats().changes?.state === 'standby', 'the second instance to stand by', 15_000)
  // Both buses live, so each keeps reads in memory and hears the other's invalidations.
  await until(() => streaming.$cache.stats().bus === 'live' && standby.$cache.stats().bus === 'live', 'both buses live')
  return {
    streaming,
    standby,
    both: [streaming, standby],
    async write(statement) {
      const transactions = streaming.$cache.stats().changes?.transactions ?? 0
      const received = standby.$cache.stats().invalidationsReceived
      await sql.query(statement)
      await until(
        () =>
          (streaming.$cache.stats().changes?.transactions ?? 0) > transactions &&
          standby.$cache.stats().invalidationsReceived > received,
        () => `the stream to invalidate: ${statement}`,
        FRESH_WITHIN_MS,
      )
    },
  }
}

/** Reads `read` on each instance until it returns `expected`; fails at the deadline with what it last saw. */
async function freshEverywhere<T>(instances: readonly Instance[], read: (client: Instance) => Promise<T>, expected: T) {
  for (const client of instances) {
    let last: T | undefined
    await until(
      async () => {
        last = await read(client)
        return JSON.stringify(last) === JSON.stringify(expected)
      },
      () => `a fresh read (${JSON.stringify(expected)}); it read ${JSON.stringify(last)}`,
      FRESH_WITHIN_MS,
    )
  }
}

/** The read served from memory on every instance: what the outside write must evict. */
async function cachedEverywhere<T>(instances: readonly Instance[], read: (client: Instance) => Promise<T>) {
  for (const client of instances) {
    await read(client)
    const { info } = await client.$cache.withInfo(() => read(client))
    expect(info.origin).toBe('l1')
  }
}

const userName = (id: number) => (client: Instance) => client.user.findUnique({ where: { id }, select: { name: true } })

describe('writes made outside the app reach every instance', () => {
  test('an UPDATE from a plain SQL client', async () => {
    const pair = await twoInstances('changes-sql')
    await pair.write(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
    await cachedEverywhere(pair.both, userName(1))
    await pair.write(`UPDATE "User" SET "name" = 'Ada Lovelace' WHERE "id" = 1`)
    await freshEverywhere(pair.both, userName(1), { name: 'Ada Lovelace' })
  })

  test('a list read is evicted by an INSERT, a row read by a DELETE', async () => {
    const pair = await twoInstances('changes-list')
    await pair.write(`INSERT INTO "User" ("email") VALUES ('a@example.com')`)
    const list = (client: Instance) => client.user.findMany({ select: { email: true }, orderBy: { id: 'asc' } })
    await cachedEverywhere(pair.both, list)
    await pair.write(`INSERT INTO "User" ("email") VALUES ('b@example.com')`)
    await freshEverywhere(pair.both, list, [{ email: 'a@example.com' }, { email: 'b@example.com' }])
    const byId = (client: Instance) => client.user.findUnique({ where: { id: 2 }, select: { email: true } })
    await cachedEverywhere(pair.both, byId)
    await pair.write(`DELETE FROM "User" WHERE "id" = 2`)
    await freshEverywhere(pair.both, byId, null)
  })

  test('a trigger, and a cascade that exists only in the database', async () => {
    const pair = await twoInstances('changes-trigger')
    await pair.write(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
    await cachedEverywhere(pair.both, userName(1))
    await pair.write(`INSERT INTO "Post" ("title", "authorId") VALUES ('Notes', 1)`)
    await freshEverywhere(pair.both, userName(1), { name: 'author of Notes' })
    const post = (client: Instance) => client.post.findUnique({ where: { id: 1 }, select: { title: true } })
    await cachedEverywhere(pair.both, post)
    // "Post"."authorId" cascades on delete in schema.sql: the post goes with its author, unnamed.
    await pair.write(`DELETE FROM "User" WHERE "id" = 1`)
    await freshEverywhere(pair.both, post, null)
  })

  test('a key changed by an UPDATE evicts the reads of the old key and of the new one', async () => {
    const pair = await twoInstances('changes-key')
    await pair.write(`INSERT INTO "User" ("email") VALUES ('a@example.com')`)
    const email = (id: number) => (client: Instance) =>
      client.user.findUnique({ where: { id }, select: { email: true } })
    await cachedEverywhere(pair.both, email(1))
    await cachedEverywhere(pair.both, email(50))
    await pair.write(`UPDATE "User" SET "id" = 50 WHERE "id" = 1`)
    await freshEverywhere(pair.both, email(1), null)
    await freshEverywhere(pair.both, email(50), { email: 'a@example.com' })
  })

  test('a transaction rolled back invalidates nothing', async () => {
    const pair = await twoInstances('changes-rollback')
    await pair.write(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
    await cachedEverywhere(pair.both, userName(1))
    const before = pair.streaming.$cache.stats().changes?.transactions ?? 0
    await sql.query('BEGIN')
    await sql.query(`UPDATE "User" SET "name" = 'never' WHERE "id" = 1`)
    await sql.query('ROLLBACK')
    // A committed write after it, to a table nobody reads here: once it is through, so would the rollback be.
    await pair.write(`INSERT INTO "Tag" ("name") VALUES ('marker')`)
    expect(pair.streaming.$cache.stats().changes?.transactions).toBe(before + 1)
    await cachedEverywhere(pair.both, userName(1))
  })
})

describe('Prisma and TypeORM apps on one database', () => {
  test('each with changes set: one follows the stream, and an outside write reaches both', async () => {
    const prefix = uniquePrefix('changes-typeorm')
    prefixes.push(prefix)
    const prisma = instance(prefix)
    await until(() => prisma.$cache.stats().changes?.state === 'streaming', 'the Prisma app to stream', 15_000)
    const dataSource = await new typeorm.DataSource(
      withCache(
        { type: 'postgres', url: databaseUrl, entities: [UserEntity], poolSize: 2 },
        { redis: redisUrlValue, prefix, timeout: TEST_REDIS_TIMEOUT, changes: databaseUrl },
      ),
    ).initialize()
    clients.push({ $disconnect: () => dataSource.destroy() })
    const typeormCache = cacheOf(dataSource)
    await until(() => typeormCache.stats().changes?.state === 'standby', 'the TypeORM app to stand by', 15_000)
    await until(() => typeormCache.stats().bus === 'live' && prisma.$cache.stats().bus === 'live', 'both buses')
    const users = dataSource.getRepository(UserEntity)
    const received = typeormCache.stats().invalidationsReceived
    await sql.query(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
    await until(() => typeormCache.stats().invalidationsReceived > received, 'the insert to reach the TypeORM app')
    expect(await users.findOneBy({ id: 1 })).toMatchObject({ name: 'Ada' })
    const hits = typeormCache.stats().l1Hits
    expect(await users.findOneBy({ id: 1 })).toMatchObject({ name: 'Ada' })
    expect(typeormCache.stats().l1Hits).toBe(hits + 1)
    await cachedEverywhere([prisma], userName(1))
    await sql.query(`UPDATE "User" SET "name" = 'Ada Lovelace' WHERE "id" = 1`)
    await freshEverywhere([prisma], userName(1), { name: 'Ada Lovelace' })
    let last: unknown
    await until(
      async () => {
        last = await users.findOneBy({ id: 1 })
        return (last as { name?: string } | null)?.name === 'Ada Lovelace'
      },
      () => `the TypeORM app to read the update; it read ${JSON.stringify(last)}`,
      FRESH_WITHIN_MS,
    )
  })
})

describe('one consumer at a time', () => {
  test('when the consumer closes, the standby takes over and misses nothing', async () => {
    const pair = await twoInstances('changes-takeover')
    await pair.write(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
    await cachedEverywhere([pair.standby], userName(1))
    await pair.streaming.$disconnect()
    // Written while nobody follows the stream: the next consumer's start invalidates everything.
    await sql.query(`UPDATE "User" SET "name" = 'between consumers' WHERE "id" = 1`)
    await until(() => pair.standby.$cache.stats().changes?.state === 'streaming', 'the standby to take over', 15_000)
    expect(pair.standby.$cache.stats().changes?.gaps).toBe(1)
    await freshEverywhere([pair.standby], userName(1), { name: 'between consumers' })
    await cachedEverywhere([pair.standby], userName(1))
    await sql.query(`UPDATE "User" SET "name" = 'after' WHERE "id" = 1`)
    await freshEverywhere([pair.standby], userName(1), { name: 'after' })
  })

  test("the consumer's process killed (SIGKILL): the standby takes over when its lease runs out, and invalidates what was written meanwhile", async () => {
    const prefix = uniquePrefix('changes-kill')
    prefixes.push(prefix)
    const consumer = forkWatched('the consuming instance', CONSUMER_SCRIPT, [
      JSON.stringify({ redisUrl: redisUrlValue, prefix, databaseUrl }),
    ])
    try {
      await consumer.nextMessage('the consuming instance to stream', 30_000)
      const standby = instance(prefix)
      await until(() => standby.$cache.stats().changes?.state === 'standby', 'the standby', 15_000)
      await until(() => standby.$cache.stats().bus === 'live', 'the bus')
      const received = standby.$cache.stats().invalidationsReceived
      await sql.query(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
      await until(() => standby.$cache.stats().invalidationsReceived > received, 'the insert to be invalidated')
      await cachedEverywhere([standby], userName(1))
      consumer.process.kill('SIGKILL')
      await sql.query(`UPDATE "User" SET "name" = 'while nobody streams' WHERE "id" = 1`)
      await until(() => standby.$cache.stats().changes?.state === 'streaming', 'the standby to take over', 15_000)
      await freshEverywhere([standby], userName(1), { name: 'while nobody streams' })
      await cachedEverywhere([standby], userName(1))
      await sql.query(`UPDATE "User" SET "name" = 'after the takeover' WHERE "id" = 1`)
      await freshEverywhere([standby], userName(1), { name: 'after the takeover' })
    } finally {
      consumer.process.kill('SIGKILL')
    }
  })

  test('no slot is left behind: each consumer uses a temporary slot that goes with its connection', async () => {
    const pair = await twoInstances('changes-slots')
    const slots = async () =>
      (await sql.query(`SELECT slot_name, temporary FROM pg_replication_slots`)).rows as { temporary: boolean }[]
    expect(await slots()).toEqual([expect.objectContaining({ temporary: true })])
    await pair.streaming.$disconnect()
    await until(() => pair.standby.$cache.stats().changes?.state === 'streaming', 'the standby to take over', 15_000)
    expect(await slots()).toEqual([expect.objectContaining({ temporary: true })])
    await pair.standby.$disconnect()
    await until(async () => (await slots()).length === 0, 'every slot to be dropped')
  })
})

describe('what the stream cannot follow is said, not hidden', () => {
  test('a table without a primary key is left out of the publication, named in stats and a warning', async () => {
    const prefix = uniquePrefix('changes-nokey')
    prefixes.push(prefix)
    // A table of its own: the warning is given once per process and message, and the list names every such table.
    await sql.query(`CREATE TABLE "Scratch" ("note" TEXT)`)
    const warnings: string[] = []
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code === 'ORMCACHE_CHANGE_STREAM') warnings.push(warning.message)
    }
    process.on('warning', onWarning)
    try {
      const client = instance(prefix)
      await until(() => client.$cache.stats().changes?.state === 'streaming', 'the stream', 15_000)
      expect(client.$cache.stats().changes?.unpublishedTables).toEqual(['public.AuditLine', 'public.Scratch'])
      await until(() => warnings.length > 0, 'the warning')
      expect(warnings).toEqual([expect.stringContaining('public.AuditLine, public.Scratch are not followed')])
      // Its UPDATEs still work: publishing it would have made PostgreSQL refuse them.
      await sql.query(`INSERT INTO "Scratch" VALUES ('x')`)
      await expect(sql.query(`UPDATE "Scratch" SET "note" = 'y'`)).resolves.toMatchObject({ rowCount: 1 })
    } finally {
      process.off('warning', onWarning)
      await sql.query(`DROP TABLE "Scratch"`)
    }
  })

  test('a server without wal_level = logical: the stream is down, the reason names the setting, the cache serves', async () => {
    const prefix = uniquePrefix('changes-replica')
    prefixes.push(prefix)
    const events: { state: string; error?: Error }[] = []
    const onChanges = (message: unknown) => events.push(message as { state: string; error?: Error })
    subscribe('ormcache:changes', onChanges)
    const cache = createCache({
      redis: redisUrlValue,
      prefix,
      timeout: TEST_REDIS_TIMEOUT,
      changes: await postgresUrl(),
    })
    try {
      await until(() => cache.stats().changes?.state === 'down', 'the stream to be reported down', 15_000)
      expect(cache.stats().changes?.error).toMatch(/wal_level is 'replica'.*wal_level = logical/)
      expect(events.at(-1)).toMatchObject({ state: 'down', error: { code: 'E_CHANGE_STREAM' } })
      expect(await cache.getOrLoad('k', ['t'], async () => 'served')).toBe('served')
    } finally {
      unsubscribe('ormcache:changes', onChanges)
      await cache.close()
    }
  })
})
