// A private PostgreSQL schema with the test tables, Prisma clients on it that
// count the SQL statements they send, and cached clients on a private Redis
// prefix. Everything made here is released by the hooks it registers.
import { readFileSync } from 'node:fs'
import { PrismaPg } from '@prisma/adapter-pg'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest'
import { type PrismaCacheClient, type PrismaCacheOptions, prismaCache } from '../../../adapters/prisma/index.js'
import { counting, QueryCounter } from '../../fixtures/counting-adapter.js'
import { TEST_REDIS_TIMEOUT } from '../../fixtures/redis-cache.js'
import { until } from '../../fixtures/wait.js'
import { createPgSchema, type PgSchema } from '../../helpers/databases.js'
import { countEntries, deleteKeysWithPrefix, uniquePrefix } from '../../helpers/prefix.js'
import { postgresUrl, redisUrl } from '../../helpers/services.js'
import { TABLES } from './backends.js'
import { PrismaClient } from './generated/client.js'

const DDL = readFileSync(new URL('./schema.sql', import.meta.url), 'utf8')

export { counting, QueryCounter } from '../../fixtures/counting-adapter.js'

export type CachedClient = ReturnType<typeof extend>

function extend(base: PrismaClient, options: PrismaCacheOptions) {
  return base.$extends(prismaCache({ timeout: TEST_REDIS_TIMEOUT, ...options }))
}

export interface TestClient {
  readonly prisma: CachedClient
  readonly queries: QueryCounter
}

/**
 * Call at file level. Creates the schema once for the file, empties its tables
 * before each test, and gives each test its own Redis prefix.
 */
export function usePrismaFixture(label: string) {
  let schema: PgSchema | undefined
  let pool: pg.Pool | undefined
  let admin: Redis | undefined
  let redis = ''
  let prefix = ''
  const clients: { disconnect(): Promise<void> }[] = []

  beforeAll(async () => {
    schema = await createPgSchema(label)
    // Every connection of the pool sees only this file's schema, raw SQL included.
    pool = new pg.Pool({ connectionString: await postgresUrl(), options: `-c search_path="${schema.schema}"`, max: 8 })
    await pool.query(DDL)
    redis = await redisUrl()
    admin = new Redis(redis)
  })

  beforeEach(async () => {
    prefix = uniquePrefix(label)
    await pool!.query(`TRUNCATE ${TABLES.map((table) => `"${table}"`).join(', ')} RESTART IDENTITY CASCADE`)
  })

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.disconnect()))
    await deleteKeysWithPrefix(admin!, prefix)
  })

  afterAll(async () => {
    await admin?.quit()
    await pool?.end()
    await schema?.drop()
  })

  /** A plain client (no cache) on the schema, counting its statements. */
  function base(): { prisma: PrismaClient; queries: QueryCounter } {
    const queries = new QueryCounter()
    const adapter = counting(new PrismaPg(pool!, { schema: schema!.schema }), queries)
    const prisma = new PrismaClient({ adapter })
    clients.push({ disconnect: () => prisma.$disconnect() })
    return { prisma, queries }
  }

  return {
    base,
    /**
     * A cached client on this test's prefix; several share entries like processes sharing Redis.
     * Resolves once its cache is connected: until its bus subscription is live, the engine does
     * not trust its L1, and reads would go to Redis or the database.
     */
    async cached(options: PrismaCacheOptions = {}): Promise<TestClient> {
      const client = this.cold(options)
      await cacheConnected(client.prisma)
      return client
    },
    /** A cached client as a process that just started has it: its connections still being made. */
    cold(options: PrismaCacheOptions = {}): TestClient {
      const { prisma: plain, queries } = base()
      const prisma = extend(plain, { redis, prefix, ...options })
      clients.push({ disconnect: () => prisma.$disconnect() })
      return { prisma, queries }
    },
    get prefix() {
      return prefix
    },
    get redis() {
      return admin!
    },
    get pool() {
      return pool!
    },
    /** Entries reach Redis after the read returns; waits until `count` entries of this test are there. */
    async entriesInRedis(count: number): Promise<void> {
      await until(async () => (await countEntries(admin!, `${prefix}:e:*`)) >= count, `${count} entries in Redis`)
    },
  }
}

/** Waits until the client's cache reaches Redis and its bus is subscribed. */
export async function cacheConnected(prisma: { $cache: PrismaCacheClient }): Promise<void> {
  await until(() => {
    const stats = prisma.$cache.stats()
    return stats.redis === 'up' && stats.bus === 'live'
  }, 'the cache connected to Redis')
}

/** Fills the cache with `read` and checks that the next read is a hit; returns a re-reader counting its queries. */
export async function cachedRead<T>(queries: QueryCounter, read: () => Promise<T>) {
  await read()
  expect(await queries.during(read), 'the read should be cached before the write').toBe(0)
  return async (): Promise<{ value: T; queries: number }> => {
    let value!: T
    const count = await queries.during(async () => {
      value = await read()
    })
    return { value, queries: count }
  }
}
