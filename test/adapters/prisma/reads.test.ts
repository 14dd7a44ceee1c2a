import { Decimal } from '@prisma/client/runtime/client'
import { describe, expect, test } from 'vitest'
import { prismaCache } from '../../../adapters/prisma/index.js'
import { InvalidOptionError, InvalidUsageError } from '../../../src/errors.js'
import { sameClassesDeep } from '../../fixtures/values.js'
import { until } from '../../fixtures/wait.js'
import { redisUrl } from '../../helpers/services.js'
import { cacheConnected, usePrismaFixture } from './fixture.js'
import { Prisma } from './generated/client.js'

const fixture = usePrismaFixture('prisma-reads')

describe('reads through prismaCache', () => {
  test('BigInt, Decimal, DateTime, Bytes, Json and null come back exactly, from L1 and from Redis', async () => {
    const { prisma: plain } = fixture.base()
    const writer = await fixture.cached()
    const viaRedis = await fixture.cached({ l1: false })
    const row = {
      id: 9_007_199_254_740_993n,
      amount: new Decimal('12345678901234567890.0123456789'),
      at: new Date('2024-02-29T23:59:59.123Z'),
      bytes: new Uint8Array([0, 1, 2, 254, 255]),
      json: { nested: [1, 'two', null, { deep: true }], n: -1.5 },
      label: null,
    }
    await plain.sample.create({ data: row })
    await plain.sample.create({ data: { ...row, id: 2n, json: [1, 2], amount: new Decimal('-0.5') } })

    const uncached = await plain.sample.findMany({ orderBy: { id: 'asc' } })
    const loaded = await writer.prisma.sample.findMany({ orderBy: { id: 'asc' } })
    const fromL1 = await writer.prisma.sample.findMany({ orderBy: { id: 'asc' } })
    await fixture.entriesInRedis(1)
    const fromRedis = await viaRedis.prisma.sample.findMany({ orderBy: { id: 'asc' } })

    expect(writer.prisma.$cache.stats().l1Hits).toBe(1)
    expect(viaRedis.prisma.$cache.stats().l2Hits).toBe(1)
    expect(viaRedis.queries.count).toBe(0)
    for (const cached of [loaded, fromL1, fromRedis]) {
      expect(cached).toStrictEqual(uncached)
      expect(sameClassesDeep(cached, uncached)).toBeUndefined()
    }
    const big = fromRedis.find((sample) => sample.id === row.id)!
    expect(big.amount).toBeInstanceOf(Decimal)
    expect(big.amount.toFixed(10)).toBe('12345678901234567890.0123456789')
    expect(big.at).toStrictEqual(row.at)
    expect(big.json).toStrictEqual(row.json)
    expect(Object.getPrototypeOf(big.bytes)).toBe(Uint8Array.prototype)

    const aggregate = () => writer.prisma.sample.aggregate({ _sum: { amount: true }, _max: { at: true, id: true } })
    const freshAggregate = await plain.sample.aggregate({ _sum: { amount: true }, _max: { at: true, id: true } })
    await aggregate()
    expect(await aggregate()).toStrictEqual(freshAggregate)
  })

  test('a cached result can be mutated by the caller without changing the cache', async () => {
    const { prisma } = await fixture.cached()
    await prisma.user.create({ data: { email: 'a@x.test', name: 'A' } })
    const first = await prisma.user.findMany()
    first[0]!.name = 'changed by the caller'
    first.pop()
    expect(await prisma.user.findMany()).toMatchObject([{ name: 'A' }])
  })

  test('an OrThrow miss throws what Prisma throws, every time, and caches nothing', async () => {
    const { prisma: plain } = fixture.base()
    const { prisma, queries } = await fixture.cached()
    const expected = await plain.user.findUniqueOrThrow({ where: { id: 404 } }).catch((error: unknown) => error)
    expect(expected).toBeInstanceOf(Prisma.PrismaClientKnownRequestError)

    for (let attempt = 0; attempt < 2; attempt++) {
      const before = queries.count
      const error = await prisma.user.findUniqueOrThrow({ where: { id: 404 } }).catch((caught: unknown) => caught)
      expect(queries.count - before).toBe(1)
      expect(error).toBeInstanceOf(Prisma.PrismaClientKnownRequestError)
      expect(error).toMatchObject({ code: 'P2025', meta: (expected as Prisma.PrismaClientKnownRequestError).meta })
      const firstError = await prisma.user.findFirstOrThrow({ where: { name: 'nobody' } }).catch((caught) => caught)
      expect(firstError).toMatchObject({ code: 'P2025' })
    }
    expect(prisma.$cache.stats()).toMatchObject({ l1Entries: 0, l1Hits: 0, l2Hits: 0 })

    // A plain findUnique of the same missing row is a cached null, and a create of the row evicts it.
    expect(await prisma.user.findUnique({ where: { id: 1 } })).toBeNull()
    expect(await queries.during(() => prisma.user.findUnique({ where: { id: 1 } }))).toBe(0)
    await prisma.user.create({ data: { email: 'a@x.test' } })
    expect(await prisma.user.findUniqueOrThrow({ where: { id: 1 } })).toMatchObject({ id: 1 })
    expect(await prisma.user.findUnique({ where: { id: 1 } })).toMatchObject({ id: 1 })
  })

  test('`cache: false` reads from the database and stores nothing', async () => {
    const { prisma, queries } = await fixture.cached()
    await prisma.user.create({ data: { email: 'a@x.test' } })
    await prisma.user.findMany()
    expect(await queries.during(() => prisma.user.findMany({ cache: false }))).toBe(1)
    expect(await queries.during(() => prisma.user.findMany({ cache: false }))).toBe(1)
    expect(await queries.during(() => prisma.user.findMany())).toBe(0)
    expect(await queries.during(() => prisma.user.count({ cache: false }))).toBe(1)
    expect(await queries.during(() => prisma.user.count())).toBe(1)
  })

  test('`cache.tags` adds tags that `$cache.invalidate` evicts; `cache.ttl` is validated', async () => {
    const { prisma, queries } = await fixture.cached()
    await prisma.user.create({ data: { email: 'a@x.test' } })
    const read = () => prisma.user.findMany({ cache: { tags: ['tenant:1'], ttl: '1m' } })
    await read()
    expect(await queries.during(read)).toBe(0)
    await prisma.$cache.invalidate({ tags: ['tenant:2'] })
    expect(await queries.during(read)).toBe(0)
    await prisma.$cache.invalidate({ tags: ['tenant:1'] })
    expect(await queries.during(read)).toBe(1)

    // What the types reject is rejected at run time too, for callers without TypeScript.
    // @ts-expect-error not a duration
    await expect(prisma.user.findMany({ cache: { ttl: 'soon' } })).rejects.toThrow(InvalidOptionError)
    // @ts-expect-error unknown option
    await expect(prisma.user.findMany({ cache: { stale: '1m' } })).rejects.toThrow(/cache\.stale/)
    await expect(prisma.user.findMany({ cache: { tags: [''] } })).rejects.toThrow(/cache\.tags/)
    // @ts-expect-error neither false nor an object
    await expect(prisma.user.findMany({ cache: 'yes' })).rejects.toThrow(/`cache`/)
  })

  test('models: false is never cached; models.ttl is accepted', async () => {
    const { prisma, queries } = await fixture.cached({ models: { User: false, Post: { ttl: '5m' } } })
    await prisma.user.findMany()
    expect(await queries.during(() => prisma.user.findMany())).toBe(1)
    await prisma.post.findMany()
    expect(await queries.during(() => prisma.post.findMany())).toBe(0)
  })

  test('the fluent API is keyed apart from the same select without it', async () => {
    const { prisma, queries } = await fixture.cached()
    const user = await prisma.user.create({ data: { email: 'a@x.test', posts: { create: { title: 'p' } } } })
    const fluent = () => prisma.user.findUnique({ where: { id: user.id } }).posts()
    const selected = () => prisma.user.findUnique({ where: { id: user.id }, select: { posts: true } })
    const posts = await fluent()
    const wrapped = await selected()
    expect(posts).toMatchObject([{ title: 'p' }])
    expect(wrapped).toMatchObject({ posts: [{ title: 'p' }] })
    expect(await queries.during(async () => expect(await fluent()).toStrictEqual(posts))).toBe(0)
    expect(await queries.during(async () => expect(await selected()).toStrictEqual(wrapped))).toBe(0)
    // The fluent read depends on Post.
    await prisma.post.create({ data: { title: 'q', authorId: user.id } })
    expect(await fluent()).toHaveLength(2)
    // The `cache` option of the call the fluent API starts from applies to the whole read.
    const tagged = () => prisma.user.findUnique({ where: { id: user.id }, cache: { tags: ['fluent'] } }).posts()
    expect(await tagged()).toHaveLength(2)
    expect(await queries.during(tagged)).toBe(0)
    await prisma.$cache.invalidate({ tags: ['fluent'] })
    expect(await queries.during(tagged)).toBeGreaterThan(0)
    expect(await queries.during(fluent)).toBe(0)
    const uncached = () => prisma.user.findUnique({ where: { id: user.id }, cache: false }).posts()
    expect(await queries.during(uncached)).toBeGreaterThan(0)
    expect(await queries.during(uncached)).toBeGreaterThan(0)
  })
})

describe("queries: 'explicit'", () => {
  test('caches only reads that pass a `cache` option; writes still invalidate them', async () => {
    const { prisma, queries } = await fixture.cached({ queries: 'explicit' })
    const user = await prisma.user.create({ data: { email: 'a@x.test', name: 'A' } })
    const plain = () => prisma.user.findMany()
    const optedIn = () => prisma.user.findMany({ cache: true })
    const tuned = () => prisma.user.findUnique({ where: { id: user.id }, cache: { ttl: '1m' } })
    const fluent = () => prisma.user.findUnique({ where: { id: user.id }, cache: true }).posts()

    expect(await queries.during(plain)).toBe(1)
    expect(await queries.during(plain)).toBe(1)
    for (const read of [optedIn, tuned, fluent]) {
      expect(await queries.during(read)).toBeGreaterThan(0)
      expect(await queries.during(read)).toBe(0)
    }
    expect(await queries.during(() => prisma.user.count({ cache: false }))).toBe(1)
    expect(await queries.during(() => prisma.user.count())).toBe(1)
    expect(prisma.$cache.stats()).toMatchObject({ loads: 3, l1Hits: 3 })

    await prisma.user.update({ where: { id: user.id }, data: { name: 'B' } })
    expect(await queries.during(async () => expect(await optedIn()).toMatchObject([{ name: 'B' }]))).toBe(1)
    expect(await queries.during(async () => expect(await tuned()).toMatchObject({ name: 'B' }))).toBe(1)
    await prisma.post.create({ data: { title: 'p', authorId: user.id } })
    expect(await queries.during(async () => expect(await fluent()).toMatchObject([{ title: 'p' }]))).toBeGreaterThan(0)
  })

  test("a model set to false stays uncached even when a query asks; `cache: true` in 'all' mode is the default entry", async () => {
    const explicit = await fixture.cached({ queries: 'explicit', models: { Post: false } })
    expect(await explicit.queries.during(() => explicit.prisma.post.findMany({ cache: true }))).toBe(1)
    expect(await explicit.queries.during(() => explicit.prisma.post.findMany({ cache: true }))).toBe(1)

    const { prisma, queries } = await fixture.cached()
    await prisma.user.findMany({ where: { name: 'A' } })
    expect(await queries.during(() => prisma.user.findMany({ where: { name: 'A' }, cache: true }))).toBe(0)
    expect(prisma.$cache.stats()).toMatchObject({ loads: 1, l1Hits: 1 })
  })

  test("`mode`, the option's old name, still works", async () => {
    const { prisma, queries } = await fixture.cached({ mode: 'explicit' })
    expect(await queries.during(() => prisma.user.findMany())).toBe(1)
    expect(await queries.during(() => prisma.user.findMany())).toBe(1)
    await prisma.user.findMany({ cache: true })
    expect(await queries.during(() => prisma.user.findMany({ cache: true }))).toBe(0)
  })
})

describe('code written for Prisma Accelerate', () => {
  test('`cacheStrategy` caches the read, in seconds, with its tags; `$accelerate.invalidate` evicts them', async () => {
    // Accelerate caches only reads that ask: the same as queries: 'explicit'.
    const { prisma, queries } = await fixture.cached({ queries: 'explicit' })
    await prisma.user.create({ data: { email: 'a@x.test' } })
    const read = () => prisma.user.findMany({ cacheStrategy: { ttl: 60, swr: 30, tags: ['users'] } })

    const miss = await prisma.$cache.withInfo(read)
    expect(miss.info.origin).toBe('database')
    const hit = await prisma.$cache.withInfo(read)
    expect(hit.info.origin).toBe('l1')
    expect(hit.data).toStrictEqual(miss.data)
    // 60 means 60 seconds, as in Accelerate, not 60 ms.
    expect(hit.info.ttl).toBeGreaterThan(50_000)
    expect(hit.info.ttl).toBeLessThanOrEqual(60_000)

    await prisma.$accelerate.invalidate({ tags: ['users'] })
    expect(await queries.during(read)).toBe(1)
    expect(await queries.during(read)).toBe(0)
    await prisma.$accelerate.invalidateAll()
    expect(await queries.during(read)).toBe(1)
  })

  test('`cacheStrategy` is checked as `cache` is, and not accepted beside it', async () => {
    const { prisma } = await fixture.cached()
    // @ts-expect-error Accelerate counts seconds in numbers
    await expect(prisma.user.findMany({ cacheStrategy: { ttl: '60s' } })).rejects.toThrow(/cacheStrategy\.ttl/)
    // @ts-expect-error unknown option
    await expect(prisma.user.findMany({ cacheStrategy: { stale: 1 } })).rejects.toThrow(/cacheStrategy\.stale/)
    await expect(prisma.user.findMany({ cacheStrategy: { ttl: 0 } })).rejects.toThrow(/cacheStrategy\.ttl/)
    await expect(prisma.user.findMany({ cacheStrategy: { ttl: 1 }, cache: false })).rejects.toThrow(/cacheStrategy/)
  })

  test("a bare number in ormcache's own `ttl` is refused, not taken for milliseconds", async () => {
    const { prisma } = await fixture.cached()
    // @ts-expect-error durations carry their unit
    await expect(prisma.user.findMany({ cache: { ttl: 60 } })).rejects.toThrow(
      /`cache\.ttl` must be .*not a bare number: write '60ms' or '60s'/,
    )
    // @ts-expect-error durations carry their unit
    expect(() => prismaCache({ ttl: 60 })).toThrow(/`ttl`/)
    // @ts-expect-error durations carry their unit
    expect(() => prismaCache({ models: { User: { ttl: 60 } } })).toThrow(/`models\.User\.ttl`/)
  })
})

describe('$cache.invalidate and $cache.invalidateAll', () => {
  test('invalidateAll makes every cached read a miss; invalidate checks its tags', async () => {
    const { prisma, queries } = await fixture.cached()
    await prisma.user.create({ data: { email: 'a@x.test' } })
    const reads = [() => prisma.user.findMany(), () => prisma.post.count(), () => prisma.user.findFirst()]
    for (const read of reads) await read()
    for (const read of reads) expect(await queries.during(read)).toBe(0)
    const { invalidations } = prisma.$cache.stats()
    await prisma.$cache.invalidateAll()
    for (const read of reads) expect(await queries.during(read)).toBe(1)
    expect(prisma.$cache.stats()).toMatchObject({ invalidations: invalidations + 1, schemaFallbacks: 0 })

    await expect(prisma.$cache.invalidate({ tags: [''] })).rejects.toThrow(InvalidOptionError)
    // @ts-expect-error the tags go in an object, as everywhere in ormcache
    await expect(prisma.$cache.invalidate(['User'])).rejects.toThrow(/`tags`/)
    await prisma.$cache.invalidate({ tags: [] })
  })
})

describe('$cache.withInfo', () => {
  test("tells 'database' on a miss, then 'l1', with the entry's key and what is left of its TTL", async () => {
    const { prisma } = await fixture.cached()
    await prisma.user.create({ data: { email: 'a@x.test' } })
    const read = () => prisma.user.findMany({ cache: { ttl: '1m' } })

    const miss = await prisma.$cache.withInfo(read)
    expect(miss.info).toEqual({ origin: 'database', key: expect.any(String) })
    expect(miss.data).toMatchObject([{ email: 'a@x.test' }])
    const hit = await prisma.$cache.withInfo(read)
    expect(hit.info).toMatchObject({ origin: 'l1', key: miss.info.key })
    expect(hit.info.ttl).toBeGreaterThan(0)
    expect(hit.info.ttl).toBeLessThanOrEqual(60_000)
    expect(hit.data).toStrictEqual(miss.data)
    // Other queries have other keys.
    const other = await prisma.$cache.withInfo(() => prisma.user.count())
    expect(other.info).toMatchObject({ origin: 'database' })
    expect(other.info.key).not.toBe(miss.info.key)
  })

  test("tells 'l2' for an entry another client stored, then 'l1'", async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached()
    await writer.prisma.user.create({ data: { email: 'a@x.test' } })
    const read = (prisma: typeof reader.prisma) => () => prisma.user.findFirst({ where: { email: 'a@x.test' } })
    const loaded = await writer.prisma.$cache.withInfo(read(writer.prisma))
    expect(loaded.info.origin).toBe('database')
    await fixture.entriesInRedis(1)

    const fromRedis = await reader.prisma.$cache.withInfo(read(reader.prisma))
    expect(fromRedis.info).toMatchObject({ origin: 'l2', key: loaded.info.key })
    expect(fromRedis.info.ttl).toBeGreaterThan(0)
    expect(fromRedis.data).toStrictEqual(loaded.data)
    expect((await reader.prisma.$cache.withInfo(read(reader.prisma))).info.origin).toBe('l1')
    expect(reader.queries.count).toBe(0)
  })

  test("tells 'stale' for an entry served past its TTL under swr, while it refreshes", async () => {
    const { prisma: plain } = fixture.base()
    const { prisma } = await fixture.cached()
    const user = await prisma.user.create({ data: { email: 'a@x.test', name: 'old' } })
    const read = () => prisma.user.findUnique({ where: { id: user.id }, cache: { ttl: '100ms', swr: '1m' } })
    expect((await prisma.$cache.withInfo(read)).info.origin).toBe('database')
    // Behind the cache's back: only the refresh can see it.
    await plain.user.update({ where: { id: user.id }, data: { name: 'new' } })

    let stale: Awaited<ReturnType<typeof prisma.$cache.withInfo<Awaited<ReturnType<typeof read>>>>> | undefined
    await until(async () => {
      const served = await prisma.$cache.withInfo(read)
      expect(served.info.origin).toMatch(/^(l1|stale)$/)
      if (served.info.origin === 'stale') stale = served
      return stale !== undefined
    }, 'the entry to go past its TTL')
    expect(stale?.data).toMatchObject({ name: 'old' })
    expect(stale?.info.ttl).toBeLessThanOrEqual(0)

    // Reads keep being served from memory until the refresh lands.
    let refreshed: typeof stale
    await until(async () => {
      refreshed = await prisma.$cache.withInfo(read)
      return refreshed.data?.name === 'new'
    }, 'the background refresh to land')
    // On a slow machine the renewed entry may itself be past its short TTL already.
    expect(refreshed?.info.origin).toMatch(/^(l1|stale)$/)
    expect(prisma.$cache.stats().refreshes).toBeGreaterThan(0)
  })

  test("tells 'bypass' for cache: false, transactions, models set to false and explicit mode without an option", async () => {
    const { prisma, queries } = await fixture.cached({ models: { Post: false } })
    const user = await prisma.user.create({ data: { email: 'a@x.test' } })
    await prisma.user.findMany()
    const bypassed = async (read: () => PromiseLike<unknown>) => {
      let info: unknown
      expect(
        await queries.during(async () => {
          ;({ info } = await prisma.$cache.withInfo(read))
        }),
      ).toBe(1)
      return info
    }
    expect(await bypassed(() => prisma.user.findMany({ cache: false }))).toEqual({ origin: 'bypass' })
    expect(await bypassed(() => prisma.$transaction(async (tx) => tx.user.findMany()))).toEqual({ origin: 'bypass' })
    expect(await bypassed(() => prisma.$transaction([prisma.user.findMany()]))).toEqual({ origin: 'bypass' })
    expect(await bypassed(() => prisma.post.findMany())).toEqual({ origin: 'bypass' })
    // The entry read around is still there.
    expect((await prisma.$cache.withInfo(() => prisma.user.findMany())).info.origin).toBe('l1')

    const explicit = await fixture.cached({ queries: 'explicit' })
    const read = () => explicit.prisma.user.findUnique({ where: { id: user.id } })
    expect((await explicit.prisma.$cache.withInfo(read)).info).toEqual({ origin: 'bypass' })
    expect((await explicit.prisma.$cache.withInfo(read)).info).toEqual({ origin: 'bypass' })
  })

  test('concurrent calls each get their own read’s origin', async () => {
    const { prisma } = await fixture.cached()
    await prisma.user.create({ data: { email: 'a@x.test' } })
    await prisma.user.findMany()
    // Each call would throw had it seen a second read: the others', or the plain read among them.
    const [counted, listed, uncached] = await Promise.all([
      prisma.$cache.withInfo(() => prisma.user.count()),
      prisma.$cache.withInfo(() => prisma.user.findMany()),
      prisma.$cache.withInfo(() => prisma.user.findMany({ cache: false })),
      prisma.user.findFirst(),
    ])
    expect([counted.info.origin, listed.info.origin, uncached.info.origin]).toEqual(['database', 'l1', 'bypass'])
    expect(counted.data).toBe(1)
  })

  test('reports a cached raw read, and needs exactly one read', async () => {
    const { prisma } = await fixture.cached()
    await prisma.user.create({ data: { email: 'a@x.test' } })
    const raw = () =>
      prisma.$cache.queryRaw<{ n: bigint }[]>(Prisma.sql`SELECT count(*) AS n FROM "User"`, { tags: ['User'] })
    expect(await prisma.$cache.withInfo(raw)).toMatchObject({ data: [{ n: 1n }], info: { origin: 'database' } })
    expect(await prisma.$cache.withInfo(raw)).toMatchObject({ data: [{ n: 1n }], info: { origin: 'l1' } })

    await expect(prisma.$cache.withInfo(async () => 1)).rejects.toThrow(/exactly one read.*made 0/)
    await expect(
      prisma.$cache.withInfo(() => Promise.all([prisma.user.findMany(), prisma.user.count()])),
    ).rejects.toThrow(/made 2/)
    await expect(prisma.$cache.withInfo(() => prisma.user.create({ data: { email: 'b@x.test' } }))).rejects.toThrow(
      InvalidUsageError,
    )
    await expect(prisma.$cache.withInfo(prisma.user.findMany() as never)).rejects.toThrow(InvalidOptionError)
  })
})

describe('stacked extensions', () => {
  test('an extension applied after prismaCache keeps working: result fields on hits, query hooks on misses', async () => {
    const { prisma, queries } = await fixture.cached()
    const seen: unknown[] = []
    const outer = prisma.$extends({
      result: { user: { shout: { needs: { email: true }, compute: (user) => user.email.toUpperCase() } } },
      query: {
        $allModels: {
          findMany({ args, query }) {
            seen.push(args)
            return query(args)
          },
        },
      },
    })
    await outer.user.create({ data: { email: 'a@x.test' } })
    const read = () => outer.user.findMany({ where: { email: 'a@x.test' }, cache: { ttl: '1m' } })
    expect(await read()).toMatchObject([{ email: 'a@x.test', shout: 'A@X.TEST' }])
    expect(await queries.during(async () => expect(await read()).toMatchObject([{ shout: 'A@X.TEST' }]))).toBe(0)
    expect(await queries.during(() => outer.user.findMany({ cache: false }))).toBe(1)
    // Prisma runs query extensions in the order they were applied: a later one runs on misses
    // only, and never sees the `cache` argument, which prismaCache has taken off.
    expect(seen).toEqual([{ where: { email: 'a@x.test' } }, {}])
    // The fluent API of the outer client, through the cache.
    const user = await outer.user.findFirstOrThrow()
    expect(await outer.user.findUnique({ where: { id: user.id }, cache: false }).posts()).toEqual([])
  })

  test('an extension applied before prismaCache runs on every read, and what it adds to the args is in the key', async () => {
    const { prisma: plain, queries } = fixture.base()
    let tenant = 'a'
    const seen: unknown[] = []
    const prisma = plain
      .$extends({
        query: {
          user: {
            findMany({ args, query }) {
              seen.push(args)
              return query({ ...args, where: { ...args.where, email: { endsWith: `@${tenant}.test` } } })
            },
          },
        },
      })
      .$extends(prismaCache({ redis: await redisUrl(), prefix: fixture.prefix }))
    try {
      await cacheConnected(prisma)
      await prisma.user.createMany({ data: [{ email: 'one@a.test' }, { email: 'two@b.test' }] })
      const read = () => prisma.user.findMany({ select: { email: true }, cache: { ttl: '1m' } })
      expect(await read()).toEqual([{ email: 'one@a.test' }])
      expect(await queries.during(read)).toBe(0)
      tenant = 'b'
      expect(await read()).toEqual([{ email: 'two@b.test' }])
      expect(await queries.during(read)).toBe(0)
      // It saw every call, `cache` argument included.
      expect(seen).toHaveLength(4)
      expect(seen[0]).toEqual({ select: { email: true }, cache: { ttl: '1m' } })
    } finally {
      await prisma.$disconnect()
    }
  })
})

describe('options', () => {
  test('are validated when the extension is made, naming the option', () => {
    expect(() => prismaCache({ models: { User: { ttl: 'forever' as '1s' } } })).toThrow(/models\.User\.ttl/)
    expect(() => prismaCache({ models: { User: true as unknown as false } })).toThrow(/models\.User/)
    expect(() => prismaCache({ models: { User: { ttl: '1s', tl: 2 } as { ttl: '1s' } } })).toThrow(/models\.User\.tl/)
    expect(() => prismaCache({ prefx: 'x' } as never)).toThrow(InvalidOptionError)
    // A misspelt option is shown the adapter's options too, not only the engine's.
    expect(() => prismaCache({ modles: {} } as never)).toThrow(/`modles`.*models/)
    expect(() => prismaCache({ redis: 'localhost:6379' })).toThrow(/`redis`/)
    expect(() => prismaCache({ queries: 'opt-in' as 'all' })).toThrow(/`queries` must be 'all' or 'explicit'/)
    expect(() => prismaCache({ queries: 'explicit' })).not.toThrow()
    // The deprecated `mode` is checked as before, and may not contradict `queries`.
    expect(() => prismaCache({ mode: 'opt-in' as 'all' })).toThrow(/`mode` must be 'all' or 'explicit'/)
    expect(() => prismaCache({ mode: 'explicit', queries: 'explicit' })).not.toThrow()
    expect(() => prismaCache({ mode: 'explicit', queries: 'all' })).toThrow(/`mode` must be absent.*old name/)
  })

  test('a model name the client does not have fails when the client is extended', () => {
    const { prisma } = fixture.base()
    expect(() => prisma.$extends(prismaCache({ models: { Usr: false } }))).toThrow(/models\.Usr/)
  })
})
