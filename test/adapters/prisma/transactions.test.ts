import { describe, expect, test } from 'vitest'
import { until } from '../../fixtures/wait.js'
import { type CachedClient, usePrismaFixture } from './fixture.js'

const fixture = usePrismaFixture('prisma-transactions')

async function seed(prisma: CachedClient) {
  const user = await prisma.user.create({ data: { email: 'one@x.test', name: 'before' } })
  // Cache the user, then prove it is a hit.
  await prisma.user.findUnique({ where: { id: user.id } })
  return user
}

class Rollback extends Error {}

/** A promise and the function that resolves it. */
function signal() {
  let resolve!: () => void
  const promise = new Promise<void>((done) => {
    resolve = done
  })
  return { promise, resolve }
}

/**
 * Starts a cached `findUnique` of `id` inside an interactive transaction that
 * renames the row, and lets the transaction commit only once the read has had
 * its answer from the database (on another connection: the old row). An
 * extension applied after prismaCache holds that answer between the database
 * and the cache until `release` is called. Resolves once the commit is done.
 */
async function readRacingACommit(prisma: CachedClient, id: number) {
  const answered = signal()
  const held = signal()
  const holding = prisma.$extends({
    query: {
      user: {
        async findUnique({ args, query }) {
          const row = await query(args)
          answered.resolve()
          await held.promise
          return row
        },
      },
    },
  })
  let read!: Promise<unknown>
  await prisma.$transaction(async (tx) => {
    await tx.user.update({ where: { id }, data: { name: 'after' } })
    // Prisma's queries start when awaited: `then` starts this one now, outside the transaction.
    read = holding.user.findUnique({ where: { id } }).then((row) => row)
    await answered.promise
  })
  return { read, release: held.resolve }
}

/**
 * A user renamed 'before' → 'after' by a committed transaction while a cached
 * read of it, started during the transaction, is held with the old row (see
 * `readRacingACommit`); and a second client without L1, which reads Redis.
 */
async function raceOfAReadAndACommit() {
  const { prisma, queries } = await fixture.cached()
  const other = await fixture.cached({ l1: false })
  const user = await prisma.user.create({ data: { email: 'one@x.test', name: 'before' } })
  const prevented = prisma.$cache.stats().staleSetsPrevented
  const race = await readRacingACommit(prisma, user.id)
  return {
    prisma,
    race,
    /** Queries the database for the user's row with a read that must see 'after'. */
    readAfter: () =>
      queries.during(async () =>
        expect(await prisma.user.findUnique({ where: { id: user.id } })).toMatchObject({ name: 'after' }),
      ),
    /** Waits until the held row is refused in memory at once, and by Redis (its tag versions moved on) in the background. */
    refused: () => until(() => prisma.$cache.stats().staleSetsPrevented === prevented + 2, 'Redis to refuse the entry'),
    /** The other client's read of the user: 'after', from Redis. */
    async expectAfterInRedis() {
      const fromRedis = () => other.prisma.user.findUnique({ where: { id: user.id } })
      expect(await other.queries.during(async () => expect(await fromRedis()).toMatchObject({ name: 'after' }))).toBe(0)
    },
  }
}

describe('transactions', () => {
  test('reads inside interactive and batch transactions go to the database', async () => {
    const { prisma, queries } = await fixture.cached()
    const user = await seed(prisma)
    await prisma.user.findMany()
    const stats = prisma.$cache.stats()

    const inside = await queries.during(() =>
      prisma.$transaction(async (tx) => {
        await tx.user.findMany()
        await tx.user.findUnique({ where: { id: user.id } })
      }),
    )
    expect(inside).toBe(2)
    const batch = await queries.during(() =>
      prisma.$transaction([prisma.user.findMany(), prisma.user.findUnique({ where: { id: user.id } })]),
    )
    expect(batch).toBe(2)
    expect(prisma.$cache.stats()).toMatchObject({ l1Hits: stats.l1Hits, loads: stats.loads })
    // Outside, the entries are still there.
    expect(await queries.during(() => prisma.user.findMany())).toBe(0)
  })

  test('reads through the typed layer run in the transaction: they see its uncommitted writes', async () => {
    const { prisma } = await fixture.cached()
    await prisma.user.findMany()
    await expect(
      prisma.$transaction(async (tx) => {
        await tx.user.create({ data: { email: 'inside@x.test' } })
        expect(await tx.user.findMany({ cache: { ttl: '1m' } })).toMatchObject([{ email: 'inside@x.test' }])
        expect(await tx.user.count()).toBe(1)
        expect(await tx.user.findUnique({ where: { email: 'inside@x.test' } }).posts()).toEqual([])
        // Outside the transaction the row does not exist yet.
        expect(await prisma.user.count({ cache: false })).toBe(0)
        throw new Rollback()
      }),
    ).rejects.toThrow(Rollback)
    expect(await prisma.user.findMany()).toEqual([])
  })

  test('an interactive transaction invalidates after its commit, not before', async () => {
    const { prisma, queries } = await fixture.cached()
    const user = await seed(prisma)
    const read = () => prisma.user.findUnique({ where: { id: user.id } })

    await prisma.$transaction(async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { name: 'after' } })
      // Not committed: other connections still see 'before', and so does the cache.
      expect(await queries.during(async () => expect(await read()).toMatchObject({ name: 'before' }))).toBe(0)
      expect(prisma.$cache.stats().invalidations).toBe(2)
    })

    expect(await queries.during(async () => expect(await read()).toMatchObject({ name: 'after' }))).toBe(1)
  })

  test('a read that began before a commit cannot cache its pre-commit row after it', async () => {
    const { race, readAfter, refused, expectAfterInRedis } = await raceOfAReadAndACommit()
    race.release()
    expect(await race.read).toMatchObject({ name: 'before' })
    await refused()

    expect(await readAfter()).toBe(1)
    expect(await readAfter()).toBe(0)
    await fixture.entriesInRedis(1)
    await expectAfterInRedis()
  })

  test('a read after the commit neither joins the racing load nor is overwritten by it', async () => {
    const { prisma, race, readAfter, refused, expectAfterInRedis } = await raceOfAReadAndACommit()
    // The racing load of the same key is still under way: this read runs its own.
    expect(await readAfter()).toBe(1)
    expect(prisma.$cache.stats().sharedLoads).toBe(0)
    await fixture.entriesInRedis(1)
    race.release()
    expect(await race.read).toMatchObject({ name: 'before' })
    await refused()

    expect(await readAfter()).toBe(0)
    await expectAfterInRedis()
  })

  test('writes in a nested transaction are invalidated when the outer one commits', async () => {
    const { prisma, queries } = await fixture.cached()
    const user = await seed(prisma)
    const read = () => prisma.user.findUnique({ where: { id: user.id } })

    await prisma.$transaction(async (tx) => {
      await tx.$transaction(async (inner) => {
        await inner.user.update({ where: { id: user.id }, data: { name: 'nested' } })
      })
      expect(await queries.during(read)).toBe(0)
    })
    expect(await queries.during(async () => expect(await read()).toMatchObject({ name: 'nested' }))).toBe(1)
  })

  test('a transaction started inside another one is independent of it', async () => {
    const { prisma, queries } = await fixture.cached()
    const user = await seed(prisma)
    const read = () => prisma.user.findUnique({ where: { id: user.id } })

    await expect(
      prisma.$transaction(async () => {
        // Not `tx.$transaction`: a second top-level transaction, which commits on its own.
        await prisma.$transaction(async (other) => {
          await other.user.update({ where: { id: user.id }, data: { name: 'independent' } })
        })
        expect(await queries.during(async () => expect(await read()).toMatchObject({ name: 'independent' }))).toBe(1)
        throw new Rollback()
      }),
    ).rejects.toThrow(Rollback)
    expect(await read()).toMatchObject({ name: 'independent' })
  })
})
