// One table read and written through Prisma and through TypeORM, each with its own cache on the
// same Redis prefix (as two services would be): the tag vocabulary both adapters share makes a
// write through either evict the other's reads, row by row where the write names its row.
import { PrismaPg } from '@prisma/adapter-pg'
import { Redis } from 'ioredis'
import pg from 'pg'
import * as typeorm from 'typeorm'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { prismaCache } from '../../adapters/prisma/index.js'
import { cacheOf, withCache } from '../../adapters/typeorm/index.js'
import { consistencyToken, createCache, withReadYourWrites } from '../../src/index.js'
import { PrismaClient } from '../chaos/generated/client.js'
import { chaosRowSchema, tableStatements } from '../chaos/table.js'
import { TEST_REDIS_TIMEOUT } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { createPgSchema, type PgSchema } from '../helpers/databases.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { postgresUrl, redisUrl } from '../helpers/services.js'

const ChaosRow = chaosRowSchema(typeorm)
const prefix = uniquePrefix('cross-orm')
let schema: PgSchema
let prisma: ReturnType<typeof prismaWithCache>
let dataSource: typeorm.DataSource

function prismaWithCache(url: string, schemaName: string, redis: string) {
  const adapter = new PrismaPg({ connectionString: url, max: 2 }, { schema: schemaName })
  return new PrismaClient({ adapter }).$extends(prismaCache({ redis, prefix, timeout: TEST_REDIS_TIMEOUT }))
}

beforeAll(async () => {
  schema = await createPgSchema('cross_orm')
  const url = await postgresUrl()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`SET search_path TO "${schema.schema}"`)
    for (const statement of tableStatements(4, 2)) await client.query(statement)
  } finally {
    await client.end()
  }
  const redis = await redisUrl()
  prisma = prismaWithCache(url, schema.schema, redis)
  dataSource = await new typeorm.DataSource(
    withCache(
      { type: 'postgres', url, schema: schema.schema, entities: [ChaosRow], poolSize: 2 },
      { redis, prefix, timeout: TEST_REDIS_TIMEOUT },
    ),
  ).initialize()
  // Both buses live: each cache then keeps what it loads in memory, and hears the other's writes.
  await prisma.chaosRow.count()
  await dataSource.getRepository(ChaosRow).count()
  await until(
    () => prisma.$cache.stats().bus === 'live' && cacheOf(dataSource).stats().bus === 'live',
    'both buses to be live',
  )
})

afterAll(async () => {
  await prisma?.$disconnect()
  await dataSource?.destroy()
  await schema?.drop()
  const admin = new Redis(await redisUrl())
  await deleteKeysWithPrefix(admin, prefix)
  admin.disconnect()
})

const prismaRead = (id: number) => prisma.$cache.withInfo(() => prisma.chaosRow.findUnique({ where: { id } }))
const prismaList = (bucket: number) => prisma.$cache.withInfo(() => prisma.chaosRow.findMany({ where: { bucket } }))
const typeormRead = (id: number) => dataSource.getRepository(ChaosRow).findOneBy({ id })
const typeormLoads = () => cacheOf(dataSource).stats().loads
/** Resolves once the cache has heard `count` more invalidations from other instances than `before`. */
const heard = (stats: () => { invalidationsReceived: number }, before: number) =>
  until(() => stats().invalidationsReceived > before, 'the other cache’s invalidation to arrive')

describe('Prisma and TypeORM on one table and one Redis prefix', () => {
  test('a write through either ORM gives its session a token with the position of its invalidation', async () => {
    const [viaPrisma, viaTypeorm] = await withReadYourWrites(undefined, async () => {
      await prisma.chaosRow.upsert({
        where: { id: 6 },
        create: { id: 6, bucket: 2, version: 6 },
        update: { version: 61 },
      })
      const first = consistencyToken()
      await dataSource.getRepository(ChaosRow).update({ id: 6 }, { version: 62 })
      return [first, consistencyToken()]
    })
    const position = (token: string | undefined) => Number(token?.split('~')[1])
    expect(viaPrisma).toMatch(new RegExp(`^${prefix}~\\d+~\\d+$`))
    expect(position(viaTypeorm)).toBeGreaterThan(position(viaPrisma))
  })

  test("a TypeORM update evicts Prisma's read of that row, and of lists of the table, not of other rows", async () => {
    await prismaRead(1)
    await prismaRead(2)
    await prismaList(0)
    expect((await prismaRead(1)).info.origin).toBe('l1')
    const before = prisma.$cache.stats().invalidationsReceived
    await dataSource.getRepository(ChaosRow).update({ id: 1 }, { version: 11 })
    await heard(() => prisma.$cache.stats(), before)

    const row = await prismaRead(1)
    expect(row.info.origin).toBe('database')
    expect(row.data?.version).toBe(11)
    const list = await prismaList(0)
    expect(list.info.origin).toBe('database')
    expect(list.data.find((found) => found.id === 1)?.version).toBe(11)
    // Row 2's entry carries only its own row's tag: the update of row 1 leaves it.
    expect((await prismaRead(2)).info.origin).toBe('l1')
  })

  test("a Prisma update evicts TypeORM's read of that row, not of other rows", async () => {
    await typeormRead(3)
    await typeormRead(4)
    const loads = typeormLoads()
    await typeormRead(3)
    await typeormRead(4)
    expect(typeormLoads()).toBe(loads)
    const before = cacheOf(dataSource).stats().invalidationsReceived
    await prisma.chaosRow.update({ where: { id: 3 }, data: { version: 33 } })
    await heard(() => cacheOf(dataSource).stats(), before)

    expect((await typeormRead(3))?.version).toBe(33)
    expect(typeormLoads()).toBe(loads + 1)
    await typeormRead(4)
    expect(typeormLoads()).toBe(loads + 1)
  })

  test('a TypeORM insert evicts the Prisma lists it could join', async () => {
    await prismaList(1)
    expect((await prismaList(1)).info.origin).toBe('l1')
    const before = prisma.$cache.stats().invalidationsReceived
    await dataSource.getRepository(ChaosRow).insert({ id: 5, bucket: 1, version: 0 })
    await heard(() => prisma.$cache.stats(), before)
    const list = await prismaList(1)
    expect(list.info.origin).toBe('database')
    expect(list.data.map((found) => found.id).sort()).toEqual([3, 4, 5])
  })

  test('`invalidate({ tables })` from a third process (a script, another service) evicts both', async () => {
    await prismaRead(2)
    await typeormRead(2)
    const outside = createCache({ redis: await redisUrl(), prefix, timeout: TEST_REDIS_TIMEOUT })
    try {
      const prismaBefore = prisma.$cache.stats().invalidationsReceived
      const typeormBefore = cacheOf(dataSource).stats().invalidationsReceived
      await outside.invalidate({ tables: ['chaos_row'] })
      await heard(() => prisma.$cache.stats(), prismaBefore)
      await heard(() => cacheOf(dataSource).stats(), typeormBefore)
    } finally {
      await outside.close()
    }
    expect((await prismaRead(2)).info.origin).toBe('database')
    const loads = typeormLoads()
    await typeormRead(2)
    expect(typeormLoads()).toBe(loads + 1)
  })

  test("model and entity names still name their table's reads in `invalidate({ tags })`", async () => {
    await prismaRead(4)
    await typeormRead(4)
    const typeormBefore = cacheOf(dataSource).stats().invalidationsReceived
    await prisma.$cache.invalidate({ tags: ['ChaosRow'] })
    await heard(() => cacheOf(dataSource).stats(), typeormBefore)
    expect((await prismaRead(4)).info.origin).toBe('database')
    const loads = typeormLoads()
    await typeormRead(4)
    expect(typeormLoads()).toBe(loads + 1)
  })
})
