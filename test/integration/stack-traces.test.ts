// A failing query must name the app function that ran it, with the cache as
// without: the frames a user debugging a failed read looks for first. Node keeps
// 10 frames by default, async ones included; the cache must not push the app's out.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import { PrismaPg } from '@prisma/adapter-pg'
import { Redis } from 'ioredis'
import { DataSource, type DataSourceOptions, Entity, PrimaryColumn } from 'typeorm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { prismaCache } from '../../adapters/prisma/index.js'
import { withCache } from '../../adapters/typeorm/index.js'
import { createCache } from '../../src/index.js'
import { PrismaClient } from '../adapters/prisma/generated/client.js'
import { PrismaClient as MariaDbClient } from '../adapters/prisma/mariadb/generated/client.js'
import { PrismaClient as SqliteClient } from '../adapters/prisma/sqlite/generated/client.js'
import { TEST_REDIS_TIMEOUT } from '../fixtures/redis-cache.js'
import { createMysqlDatabase, createPgSchema, type MysqlDatabase, type PgSchema } from '../helpers/databases.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { postgresUrl, redisUrl } from '../helpers/services.js'

/** An entity whose table the test never creates: every read of it fails in the database. */
@Entity('no_such_table')
class Missing {
  @PrimaryColumn()
  id!: number
}

const prefix = uniquePrefix('stack-traces')
let redis = ''
let schema: PgSchema
let mariadb: MysqlDatabase
let sqliteDirectory: string

beforeAll(async () => {
  redis = await redisUrl()
  schema = await createPgSchema('stack-traces')
  mariadb = await createMysqlDatabase('stack-traces')
  sqliteDirectory = mkdtempSync(join(tmpdir(), 'ormcache-stack-'))
})

afterAll(async () => {
  await schema?.drop()
  await mariadb?.drop()
  rmSync(sqliteDirectory, { recursive: true, force: true })
  const admin = new Redis(redis)
  await deleteKeysWithPrefix(admin, prefix)
  admin.disconnect()
})

/** The error `run` rejects with; fails the test if it resolves. */
async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected the query to fail')
}

describe('engine', () => {
  it("a failing loader's error keeps the caller's frame", async () => {
    const cache = createCache({ redis, prefix, timeout: TEST_REDIS_TIMEOUT })
    try {
      async function loadTheReportForStackTest() {
        return cache.getOrLoad('k', ['T'], async () => {
          await new Promise((resolve) => setImmediate(resolve))
          throw new Error('loader failed')
        })
      }
      async function appHandlerForStackTest() {
        return await loadTheReportForStackTest()
      }
      const error = await failure(appHandlerForStackTest)
      expect(error.message).toBe('loader failed')
      expect(error.stack).toContain('appHandlerForStackTest')
    } finally {
      await cache.close()
    }
  })
})

describe.each(['sqlite', 'postgres', 'mariadb'] as const)('TypeORM on %s', (database) => {
  let cached: DataSource
  let plain: DataSource

  beforeAll(async () => {
    const entities = [Missing]
    const options: DataSourceOptions =
      database === 'sqlite'
        ? { type: 'better-sqlite3', database: join(sqliteDirectory, 'typeorm.db'), entities }
        : database === 'postgres'
          ? { type: 'postgres', url: await postgresUrl(), schema: schema.schema, entities }
          : { type: 'mariadb', url: mariadb.url, entities }
    plain = await new DataSource(options).initialize()
    cached = await new DataSource(withCache(options, { redis, prefix, timeout: TEST_REDIS_TIMEOUT })).initialize()
  })

  afterAll(async () => {
    await cached?.destroy()
    await plain?.destroy()
  })

  for (const [name, read] of [
    ['find()', (source: DataSource) => source.getRepository(Missing).find()],
    ['query()', (source: DataSource) => source.query('SELECT * FROM no_such_table')],
    [
      'a query runner',
      async (source: DataSource) => {
        const runner = source.createQueryRunner()
        try {
          return await runner.query('SELECT * FROM no_such_table')
        } finally {
          await runner.release()
        }
      },
    ],
  ] as const) {
    it(`a failing ${name} names the app function, as uncached`, async () => {
      async function appReadsMissingRows(source: DataSource) {
        return await read(source)
      }
      const uncached = await failure(() => appReadsMissingRows(plain))
      expect(uncached.stack, 'uncached, the premise').toContain('appReadsMissingRows')
      const error = await failure(() => appReadsMissingRows(cached))
      expect(error.constructor).toBe(uncached.constructor)
      expect(error.stack).toContain('appReadsMissingRows')
    })
  }
})

/** A Prisma client of the test schema on a database without its tables: every model read fails there. */
interface UserReader {
  readonly user: { findMany(args: { where: { name: string } }): Promise<unknown> }
  $extends(extension: ReturnType<typeof prismaCache>): unknown
  $disconnect(): Promise<void>
}

const prismaClients: Record<string, () => UserReader> = {
  postgres: () =>
    new PrismaClient({ adapter: new PrismaPg({ connectionString: schema.url }, { schema: schema.schema }) }),
  sqlite: () =>
    new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${join(sqliteDirectory, 'prisma.db')}` }) }),
  mariadb: () => {
    const url = new URL(mariadb.url)
    return new MariaDbClient({
      adapter: new PrismaMariaDb({
        host: url.hostname,
        port: Number(url.port || 3306),
        user: decodeURIComponent(url.username),
        database: mariadb.database,
      }),
    })
  },
}

describe.each(Object.keys(prismaClients))('Prisma on %s', (database) => {
  it('a failing cached findMany names the app function, as uncached', async () => {
    const base = prismaClients[database]!()
    const prisma = base.$extends(prismaCache({ redis, prefix, timeout: TEST_REDIS_TIMEOUT })) as UserReader
    try {
      async function appListsUsers(client: UserReader) {
        return await client.user.findMany({ where: { name: 'x' } })
      }
      const uncached = await failure(() => appListsUsers(base))
      expect(uncached.stack, 'uncached, the premise').toContain('appListsUsers')
      const error = await failure(() => appListsUsers(prisma))
      expect(error.constructor).toBe(uncached.constructor)
      expect(error.stack).toContain('appListsUsers')
    } finally {
      await prisma.$disconnect()
      await base.$disconnect()
    }
  })
})
