// The fixture of the suites run on each database (SQLite, MariaDB, PostgreSQL): a database of
// the file's own with the relation tables, Prisma clients on it that count
// their SQL statements, and cached clients on a private Redis prefix.
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import { type PrismaCacheOptions, prismaCache } from '../../../adapters/prisma/index.js'
import { TEST_REDIS_TIMEOUT } from '../../fixtures/redis-cache.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../../helpers/prefix.js'
import { redisUrl } from '../../helpers/services.js'
import { cacheConnected, counting, QueryCounter } from './fixture.js'
import type { PrismaClient } from './sqlite/generated/client.js'

/**
 * A client of the relation schema. The SQLite, MariaDB and PostgreSQL clients are
 * generated from the same models, so their types are the same but for the provider; the
 * suite is typed with the SQLite one.
 */
export type RelationClient = PrismaClient

/** What `new PrismaClient({ adapter })` takes. */
export type SqlDriverAdapterFactory = NonNullable<NonNullable<ConstructorParameters<typeof PrismaClient>[0]>['adapter']>

/** One database under test. */
export interface Backend {
  /** Creates the database and its tables. */
  setup(): Promise<void>
  /** A driver adapter factory on the database. */
  adapter(): SqlDriverAdapterFactory
  /** A Prisma client of the relation schema on `adapter`. */
  client(adapter: SqlDriverAdapterFactory): RelationClient
  /** Empties every table and restarts the ids. */
  reset(): Promise<void>
  teardown(): Promise<void>
  /** The schema.prisma the tables are for. */
  readonly schema: URL
  /** SQL listing the tables' columns as rows `{ t, c }`, and their foreign keys' actions as rows `{ t, d, u }`. */
  readonly inspect: { readonly columns: string; readonly foreignKeys: string }
}

function extend(base: RelationClient, options: PrismaCacheOptions) {
  return base.$extends(prismaCache({ timeout: TEST_REDIS_TIMEOUT, ...options }))
}

export type CachedRelationClient = ReturnType<typeof extend>

export interface DialectClient {
  readonly prisma: CachedRelationClient
  readonly queries: QueryCounter
}

export type DialectFixture = ReturnType<typeof useDialectFixture>

/** Call at file level: creates the database once, empties it before each test, a Redis prefix per test. */
export function useDialectFixture(label: string, backend: Backend) {
  let admin: Redis | undefined
  let redis = ''
  let prefix = ''
  const clients: { disconnect(): Promise<void> }[] = []

  beforeAll(async () => {
    await backend.setup()
    redis = await redisUrl()
    admin = new Redis(redis)
  })

  beforeEach(async () => {
    prefix = uniquePrefix(label)
    await backend.reset()
  })

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.disconnect()))
    await deleteKeysWithPrefix(admin!, prefix)
  })

  afterAll(async () => {
    await admin?.quit()
    await backend.teardown()
  })

  function base(): { prisma: RelationClient; queries: QueryCounter } {
    const queries = new QueryCounter()
    const prisma = backend.client(counting(backend.adapter(), queries))
    clients.push({ disconnect: () => prisma.$disconnect() })
    return { prisma, queries }
  }

  return {
    base,
    backend,
    async cached(options: PrismaCacheOptions = {}): Promise<DialectClient> {
      const { prisma: plain, queries } = base()
      const prisma = extend(plain, { redis, prefix, ...options })
      clients.push({ disconnect: () => prisma.$disconnect() })
      await cacheConnected(prisma)
      return { prisma, queries }
    },
  }
}
