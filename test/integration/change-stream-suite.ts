// What every database's change stream must do, run against each (PostgreSQL's logical replication,
// MariaDB's binlog): writes made outside the app (plain SQL, a trigger, a foreign-key cascade)
// reach every instance's cached reads. Two Prisma clients, each with its own cache on one Redis
// prefix (two instances of an app): one follows the stream, the other stands by and takes over.
// Statements are written with double-quoted identifiers; MariaDB runs them with ANSI_QUOTES.
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import * as typeorm from 'typeorm'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { type PrismaCacheOptions, prismaCache } from '../../adapters/prisma/index.js'
import { cacheOf, withCache } from '../../adapters/typeorm/index.js'
import type { PrismaClient } from '../adapters/prisma/generated/client.js'
import { runExitingScript } from '../fixtures/exiting-script-run.js'
import { TEST_REDIS_TIMEOUT } from '../fixtures/redis-cache.js'
import { forkWatched, until } from '../fixtures/wait.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { redisUrl } from '../helpers/services.js'

const CONSUMER_SCRIPT = fileURLToPath(new URL('../fixtures/change-consumer.mjs', import.meta.url))
/** Far above the stream's lag here (milliseconds): a write that never arrives fails at this deadline. */
export const FRESH_WITHIN_MS = 10_000

export interface ChangeStreamBackend {
  readonly name: string
  /** Makes a database with the Prisma test schema and a trigger (a post renames its author); resolves to its URL. */
  setup(): Promise<string>
  teardown(): Promise<void>
  /** Runs a statement as another service would: a plain driver connection, no ORM, no cache. */
  sql(statement: string): Promise<unknown>
  /** Empties the tables between tests. */
  reset(): Promise<void>
  /** A Prisma client on the database, extended with the cache (the same models on every database). */
  prisma(databaseUrl: string, options: PrismaCacheOptions): CachedPrisma
  /** TypeORM DataSource options for the database. */
  typeorm(databaseUrl: string, entities: typeorm.EntitySchema[]): typeorm.DataSourceOptions
  /** Kills the database server as a crash would, starts it again, and reconnects `sql`. */
  crashAndRestart(): Promise<void>
  /** A statement inserting `count` tags named `tag-1`, `tag-2`, … in one transaction. */
  insertTags(count: number): string
}

export type CachedPrisma = ReturnType<typeof extendWithCache>

/** A Prisma test client with the cache; clients generated for other providers have the same models. */
export function extendWithCache(client: PrismaClient, options: PrismaCacheOptions) {
  return client.$extends(prismaCache(options))
}

const UserEntity = new typeorm.EntitySchema<{ id: number; email: string; name: string | null }>({
  name: 'User',
  tableName: 'User',
  columns: {
    id: { type: Number, primary: true, generated: true },
    email: { type: String },
    name: { type: String, nullable: true },
  },
})

/** The suite, for one database; the file that calls it adds what only that database has. */
export function changeStreamSuite(backend: ChangeStreamBackend): {
  databaseUrl(): string
  /** A prefix of its own for a test, whose keys are deleted after it. */
  prefix(label: string): string
  /** An instance of the app on `prefix`, following `changes` (the app's database by default); disconnected after the test. */
  app(prefix: string, changes?: PrismaCacheOptions['changes']): CachedPrisma
} {
  let databaseUrl = ''
  let redisUrlValue = ''
  const prefixes: string[] = []
  const clients: { $disconnect(): Promise<void> }[] = []

  /** An instance of the app on `prefix`, following `changes`; disconnected after the test. */
  function app(prefix: string, changes: PrismaCacheOptions['changes'] = databaseUrl): Instance {
    const client = backend.prisma(databaseUrl, { redis: redisUrlValue, prefix, timeout: TEST_REDIS_TIMEOUT, changes })
    clients.push(client)
    return client
  }
  type Instance = CachedPrisma

  beforeAll(async () => {
    redisUrlValue = await redisUrl()
    databaseUrl = await backend.setup()
  })

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.$disconnect()
    const admin = new Redis(redisUrlValue)
    for (const prefix of prefixes.splice(0)) await deleteKeysWithPrefix(admin, prefix)
    admin.disconnect()
    await backend.reset()
  })

  afterAll(async () => {
    await backend.teardown()
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
    const prefix = uniquePrefix(`${backend.name}-${label}`)
    prefixes.push(prefix)
    const streaming = app(prefix)
    await until(() => streaming.$cache.stats().changes?.state === 'streaming', 'the first instance to stream', 15_000)
    const standby = app(prefix)
    await until(() => standby.$cache.stats().changes?.state === 'standby', 'the second instance to stand by', 15_000)
    // Both buses live, so each keeps reads in memory and hears the other's invalidations.
    await until(
      () => streaming.$cache.stats().bus === 'live' && standby.$cache.stats().bus === 'live',
      'both buses live',
    )
    return {
      streaming,
      standby,
      both: [streaming, standby],
      async write(statement) {
        const transactions = streaming.$cache.stats().changes?.transactions ?? 0
        const received = standby.$cache.stats().invalidationsReceived
        await backend.sql(statement)
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
  async function freshEverywhere<T>(
    instances: readonly Instance[],
    read: (client: Instance) => Promise<T>,
    expected: T,
  ) {
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

  const userName = (id: number) => (client: Instance) =>
    client.user.findUnique({ where: { id }, select: { name: true } })

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
      await backend.sql('BEGIN')
      await backend.sql(`UPDATE "User" SET "name" = 'never' WHERE "id" = 1`)
      await backend.sql('ROLLBACK')
      // A committed write after it, to a table nobody reads here: once it is through, so would the rollback be.
      await pair.write(`INSERT INTO "Tag" ("name") VALUES ('marker')`)
      expect(pair.streaming.$cache.stats().changes?.transactions).toBe(before + 1)
      await cachedEverywhere(pair.both, userName(1))
    })
  })

  describe('Prisma and TypeORM apps on one database', () => {
    test('each with changes set: one follows the stream, and an outside write reaches both', async () => {
      const prefix = uniquePrefix(`${backend.name}-changes-typeorm`)
      prefixes.push(prefix)
      const prisma = app(prefix)
      await until(() => prisma.$cache.stats().changes?.state === 'streaming', 'the Prisma app to stream', 15_000)
      const dataSource = await new typeorm.DataSource(
        withCache(backend.typeorm(databaseUrl, [UserEntity]), {
          redis: redisUrlValue,
          prefix,
          timeout: TEST_REDIS_TIMEOUT,
          changes: databaseUrl,
        }),
      ).initialize()
      clients.push({ $disconnect: () => dataSource.destroy() })
      const typeormCache = cacheOf(dataSource)
      await until(() => typeormCache.stats().changes?.state === 'standby', 'the TypeORM app to stand by', 15_000)
      await until(() => typeormCache.stats().bus === 'live' && prisma.$cache.stats().bus === 'live', 'both buses')
      const users = dataSource.getRepository(UserEntity)
      const received = typeormCache.stats().invalidationsReceived
      await backend.sql(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
      await until(() => typeormCache.stats().invalidationsReceived > received, 'the insert to reach the TypeORM app')
      expect(await users.findOneBy({ id: 1 })).toMatchObject({ name: 'Ada' })
      const hits = typeormCache.stats().l1Hits
      expect(await users.findOneBy({ id: 1 })).toMatchObject({ name: 'Ada' })
      expect(typeormCache.stats().l1Hits).toBe(hits + 1)
      await cachedEverywhere([prisma], userName(1))
      await backend.sql(`UPDATE "User" SET "name" = 'Ada Lovelace' WHERE "id" = 1`)
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

  describe('a process that follows the stream', () => {
    test('and never closes its cache exits by itself: the stream holds nothing open', async () => {
      const prefix = uniquePrefix(`${backend.name}-changes-exit`)
      prefixes.push(prefix)
      const { code, output } = await runExitingScript({ redisUrl: redisUrlValue, prefix, changes: databaseUrl })
      expect(code).toBe(0)
      expect(output).toEqual({ loaded: 'loaded', hit: 'loaded', redis: 'up' })
    })

    test('and awaits close() goes on after it', async () => {
      const prefix = uniquePrefix(`${backend.name}-changes-close`)
      prefixes.push(prefix)
      const { code, output } = await runExitingScript({
        redisUrl: redisUrlValue,
        prefix,
        changes: databaseUrl,
        close: true,
      })
      expect(code).toBe(0)
      expect(output).toEqual({ loaded: 'loaded', hit: 'loaded', redis: 'up' })
    })
  })

  describe('a bulk write', () => {
    test('of 100,000 rows in one transaction invalidates its table, once', async () => {
      const pair = await twoInstances('changes-bulk')
      await pair.write(`INSERT INTO "Tag" ("name") VALUES ('first')`)
      const count = (client: Instance) => client.tag.count()
      const byId = (client: Instance) => client.tag.findUnique({ where: { id: 1 }, select: { name: true } })
      await cachedEverywhere(pair.both, count)
      await cachedEverywhere(pair.both, byId)
      const transactions = pair.streaming.$cache.stats().changes?.transactions ?? 0
      await pair.write(backend.insertTags(100_000))
      expect(pair.streaming.$cache.stats().changes?.transactions).toBe(transactions + 1)
      await freshEverywhere(pair.both, count, 100_001)
      // Past 1,000 rows a table is invalidated whole, reads by key included: no row tags to send.
      const { info } = await pair.standby.$cache.withInfo(() => byId(pair.standby))
      expect(info.origin).not.toBe('l1')
    }, 60_000)
  })

  describe('the database restarted', () => {
    test('the consumer follows the stream again, invalidating everything once, and what is written after is seen', async () => {
      const pair = await twoInstances('changes-restart')
      await pair.write(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
      await cachedEverywhere(pair.both, userName(1))
      // Either instance may follow the stream again: the consumer hands its lease on when its stream breaks.
      const gaps = () => pair.both.reduce((sum, client) => sum + (client.$cache.stats().changes?.gaps ?? 0), 0)
      const gapsBefore = gaps()
      await backend.crashAndRestart()
      await until(
        () => gaps() > gapsBefore && pair.both.some((client) => client.$cache.stats().changes?.state === 'streaming'),
        () =>
          `the stream to start again; it is ${JSON.stringify(pair.both.map((client) => client.$cache.stats().changes))}`,
        20_000,
      )
      // The apps' own pools find their connections gone: their next query may fail once.
      await freshEverywhere(pair.both, (client) => userName(1)(client).catch(() => 'reconnecting'), { name: 'Ada' })
      // Roles may have swapped: not pair.write, which waits on the first instance's stream.
      await backend.sql(`UPDATE "User" SET "name" = 'after the restart' WHERE "id" = 1`)
      await freshEverywhere(pair.both, userName(1), { name: 'after the restart' })
    })
  })

  describe('one consumer at a time', () => {
    test('when the consumer closes, the standby takes over and misses nothing', async () => {
      const pair = await twoInstances('changes-takeover')
      await pair.write(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
      await cachedEverywhere([pair.standby], userName(1))
      await pair.streaming.$disconnect()
      // Written while nobody follows the stream: the next consumer's start invalidates everything.
      await backend.sql(`UPDATE "User" SET "name" = 'between consumers' WHERE "id" = 1`)
      await until(() => pair.standby.$cache.stats().changes?.state === 'streaming', 'the standby to take over', 15_000)
      expect(pair.standby.$cache.stats().changes?.gaps).toBe(1)
      await freshEverywhere([pair.standby], userName(1), { name: 'between consumers' })
      await cachedEverywhere([pair.standby], userName(1))
      await backend.sql(`UPDATE "User" SET "name" = 'after' WHERE "id" = 1`)
      await freshEverywhere([pair.standby], userName(1), { name: 'after' })
    })

    test("the consumer's process killed (SIGKILL): the standby takes over when its lease runs out, and invalidates what was written meanwhile", async () => {
      const prefix = uniquePrefix(`${backend.name}-changes-kill`)
      prefixes.push(prefix)
      const consumer = forkWatched('the consuming instance', CONSUMER_SCRIPT, [
        JSON.stringify({ redisUrl: redisUrlValue, prefix, databaseUrl }),
      ])
      try {
        await consumer.nextMessage('the consuming instance to stream', 30_000)
        const standby = app(prefix)
        await until(() => standby.$cache.stats().changes?.state === 'standby', 'the standby', 15_000)
        await until(() => standby.$cache.stats().bus === 'live', 'the bus')
        const received = standby.$cache.stats().invalidationsReceived
        await backend.sql(`INSERT INTO "User" ("email", "name") VALUES ('ada@example.com', 'Ada')`)
        await until(() => standby.$cache.stats().invalidationsReceived > received, 'the insert to be invalidated')
        await cachedEverywhere([standby], userName(1))
        consumer.process.kill('SIGKILL')
        await backend.sql(`UPDATE "User" SET "name" = 'while nobody streams' WHERE "id" = 1`)
        await until(() => standby.$cache.stats().changes?.state === 'streaming', 'the standby to take over', 15_000)
        await freshEverywhere([standby], userName(1), { name: 'while nobody streams' })
        await cachedEverywhere([standby], userName(1))
        await backend.sql(`UPDATE "User" SET "name" = 'after the takeover' WHERE "id" = 1`)
        await freshEverywhere([standby], userName(1), { name: 'after the takeover' })
      } finally {
        consumer.process.kill('SIGKILL')
      }
    })
  })

  return {
    app,
    databaseUrl: () => databaseUrl,
    prefix(label) {
      const prefix = uniquePrefix(`${backend.name}-${label}`)
      prefixes.push(prefix)
      return prefix
    },
  }
}
