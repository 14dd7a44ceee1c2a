// Several extended clients on one Redis, as several app processes would be,
// and the lifecycle of the cache's Redis connections.
import { describe, expect, test } from 'vitest'
import { until } from '../../fixtures/wait.js'
import { cacheConnected, usePrismaFixture } from './fixture.js'

const fixture = usePrismaFixture('prisma-clients')

describe('clients sharing Redis', () => {
  test('a result cached by one client is a hit for another through Redis', async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached({ l1: false })
    const user = await writer.prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
    const loaded = await writer.prisma.user.findUnique({ where: { id: user.id }, include: { posts: true } })
    await fixture.entriesInRedis(1)

    const read = () => reader.prisma.user.findUnique({ where: { id: user.id }, include: { posts: true } })
    expect(await reader.queries.during(async () => expect(await read()).toStrictEqual(loaded))).toBe(0)
    expect(reader.prisma.$cache.stats()).toMatchObject({ l2Hits: 1, loads: 0 })
  })

  test("a client without L1 sees another client's write on its next read", async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached({ l1: false })
    const one = await writer.prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
    const two = await writer.prisma.user.create({ data: { email: 'two@x.test', name: 'Two' } })
    const readOne = () => reader.prisma.user.findUnique({ where: { id: one.id } })
    const readTwo = () => reader.prisma.user.findUnique({ where: { id: two.id } })
    const readAll = () => reader.prisma.user.findMany({ orderBy: { id: 'asc' } })
    await readOne()
    await readTwo()
    await readAll()
    await fixture.entriesInRedis(3)
    expect(await reader.queries.during(() => Promise.all([readOne(), readTwo(), readAll()]))).toBe(0)

    await writer.prisma.user.update({ where: { id: one.id }, data: { name: 'Uno' } })

    expect(await reader.queries.during(async () => expect(await readOne()).toMatchObject({ name: 'Uno' }))).toBe(1)
    expect(await reader.queries.during(async () => expect(await readAll()).toMatchObject([{ name: 'Uno' }, {}]))).toBe(
      1,
    )
    // The other row's entry in Redis is still valid.
    expect(await reader.queries.during(readTwo)).toBe(0)
  })

  test('a write in a transaction reaches the other client only once committed', async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached({ l1: false })
    const user = await writer.prisma.user.create({ data: { email: 'one@x.test', name: 'before' } })
    const read = () => reader.prisma.user.findUnique({ where: { id: user.id } })
    await read()
    await fixture.entriesInRedis(1)

    await writer.prisma.$transaction(async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { name: 'after' } })
      expect(await reader.queries.during(read)).toBe(0)
    })
    expect(await reader.queries.during(async () => expect(await read()).toMatchObject({ name: 'after' }))).toBe(1)
  })

  test("a client with L1 drops another client's written rows when the bus message arrives", async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached()
    const one = await writer.prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
    const two = await writer.prisma.user.create({ data: { email: 'two@x.test', name: 'Two' } })
    const readOne = () => reader.prisma.user.findUnique({ where: { id: one.id } })
    const readTwo = () => reader.prisma.user.findUnique({ where: { id: two.id } })
    await readOne()
    await readTwo()
    expect(await reader.queries.during(() => Promise.all([readOne(), readTwo()]))).toBe(0)
    const received = reader.prisma.$cache.stats().invalidationsReceived

    await writer.prisma.user.update({ where: { id: one.id }, data: { name: 'Uno' } })
    await until(() => reader.prisma.$cache.stats().invalidationsReceived > received, 'the bus message')

    expect(await reader.queries.during(async () => expect(await readOne()).toMatchObject({ name: 'Uno' }))).toBe(1)
    expect(await reader.queries.during(readTwo)).toBe(0)
  })
})

describe('$disconnect', () => {
  test("closes the cache's own Redis connection; the client can be used again afterwards", async () => {
    const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
    const connectionName = `${fixture.prefix}-conn`
    const { prisma, queries } = await fixture.cached({
      redis: { host: url.hostname, port: Number(url.port || 6379), connectionName },
    })
    const connections = async () =>
      ((await fixture.redis.client('LIST')) as string)
        .split('\n')
        .filter((line) => line.includes(`name=${connectionName}`)).length
    await prisma.user.findMany()
    await fixture.entriesInRedis(1)
    // Commands and the bus's subscriber.
    expect(await connections()).toBeGreaterThan(0)

    await prisma.$disconnect()
    expect(await connections()).toBe(0)

    // Like Prisma itself, the next operation reconnects, cache included.
    await prisma.user.create({ data: { email: 'one@x.test' } })
    await cacheConnected(prisma)
    expect(await connections()).toBeGreaterThan(0)
    expect(await queries.during(() => prisma.user.findMany())).toBe(1)
    expect(await queries.during(() => prisma.user.findMany())).toBe(0)
    await prisma.$disconnect()
  })
})
