// Issue 8 §3.5: two apps on one Redis with different prefixes share nothing:
// their keys are disjoint, one's entries are never the other's hits, and one's
// invalidations neither evict the other's entries nor reach its bus.
import type { Redis } from 'ioredis'
import { describe, expect, test } from 'vitest'
import { createCache, InvalidOptionError } from '../../src/index.js'
import { usePrismaFixture } from '../adapters/prisma/fixture.js'
import { redisCaches } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { deleteKeysWithPrefix, keysWithPrefix, uniquePrefix } from '../helpers/prefix.js'

/**
 * Invalidations on `prefix`'s channels, from the moment this resolves: not its heartbeats, nor the
 * announcements of its own fill locks' ends (on `<prefix>:bus:fill:<key>`, one per load it stores).
 */
async function busOf(admin: Redis, prefix: string) {
  const subscriber = admin.duplicate()
  const messages: string[] = []
  subscriber.on('pmessage', (_, channel: string, message: string) => {
    if (!channel.includes(':heartbeat:') && !channel.includes(':fill:')) messages.push(message)
  })
  await subscriber.psubscribe(`${prefix}*`)
  return { messages, close: () => subscriber.quit() }
}

describe('the engine', () => {
  const engine = redisCaches('guarantee-isolation')

  test('same keys and tags under two prefixes: disjoint keys, no shared hits, invalidations stay home', async () => {
    const [prefixA, prefixB] = [engine.prefix(), engine.prefix()]
    const admin = (await engine.admin()) as Redis
    const a = await engine.liveCache(prefixA)
    const a2 = await engine.liveCache(prefixA, { l1: false })
    const b = await engine.liveCache(prefixB)
    const busB = await busOf(admin, prefixB)
    const busA = await busOf(admin, prefixA)
    try {
      const keys = ['users', 'e:users', 'l:users', 'users:1']
      for (const key of keys) {
        expect(await a.getOrLoad(key, ['User'], () => `a:${key}`)).toBe(`a:${key}`)
        expect(await b.getOrLoad(key, ['User'], () => `b:${key}`)).toBe(`b:${key}`)
        await engine.stored(prefixA, key)
        await engine.stored(prefixB, key)
      }
      const [keysA, keysB] = [await keysWithPrefix(admin, prefixA), await keysWithPrefix(admin, prefixB)]
      expect(keysA.filter((key) => keysB.includes(key))).toEqual([])
      expect(keysA.length).toBeGreaterThanOrEqual(keys.length + 1)

      await a.invalidate({ tags: ['User'] })
      await until(() => busA.messages.length === 1, "A's invalidation on A's bus")
      // A's invalidation counts in A's other instance, reaches neither B's bus nor B's entries.
      await until(() => a2.stats().invalidationsReceived === 1, "A's invalidation at A's other instance")
      const fail = () => {
        throw new Error('B should have served its own entry')
      }
      for (const key of keys) expect(await b.getOrLoad(key, ['User'], fail)).toBe(`b:${key}`)
      expect(b.stats().l1Hits).toBe(keys.length)
      expect(b.stats().invalidationsReceived).toBe(0)
      expect(busB.messages).toEqual([])
      expect(await a.getOrLoad('users', ['User'], () => 'a reloaded')).toBe('a reloaded')
    } finally {
      await Promise.all([busA.close(), busB.close()])
    }
  })

  test('a prefix cannot hold ":", so no prefix is another prefix followed by a key part', () => {
    // With "app" and "app:e" both allowed, app's entry "e:k" and app:e's entry "k" were both "app:e:e:k".
    expect(() => createCache({ prefix: 'app:e' })).toThrow(InvalidOptionError)
    expect(() => createCache({ prefix: 'app:eu' })).toThrow(/`prefix`/)
  })
})

describe('Prisma', () => {
  const prisma = usePrismaFixture('guarantee_isolation')

  test("two clients on one schema under two prefixes: a write in one leaves the other's cache alone", async () => {
    const { prisma: base } = prisma.base()
    await base.user.create({ data: { email: 'a@x.test', name: 'A' } })
    const other = uniquePrefix('guarantee_isolation_other')
    try {
      const first = await prisma.cached()
      const second = await prisma.cached({ prefix: other })
      const busOther = await busOf(prisma.redis, other)
      try {
        const reads = [
          (client: typeof first.prisma) => client.user.findMany(),
          (client: typeof first.prisma) => client.user.findUnique({ where: { id: 1 } }),
          (client: typeof first.prisma) => client.user.count(),
        ]
        for (const read of reads) {
          await read(first.prisma)
          await read(second.prisma)
        }
        await prisma.entriesInRedis(reads.length)
        await until(
          async () => (await keysWithPrefix(prisma.redis, `${other}:e:`)).length === reads.length,
          'entries of the other prefix',
        )
        const [keysFirst, keysOther] = [
          await keysWithPrefix(prisma.redis, prisma.prefix),
          await keysWithPrefix(prisma.redis, other),
        ]
        expect(keysFirst.filter((key) => keysOther.includes(key))).toEqual([])

        // The first app writes; its cache invalidates. The second app is another app: its
        // cache keeps serving what it had (the prefix is the boundary users chose), from memory.
        await first.prisma.user.update({ where: { id: 1 }, data: { name: 'A2' } })
        expect((await first.prisma.user.findUnique({ where: { id: 1 } }))?.name).toBe('A2')
        const served = await second.queries.during(async () => {
          for (const read of reads) await read(second.prisma)
        })
        expect(served).toBe(0)
        expect((await second.prisma.user.findUnique({ where: { id: 1 } }))?.name).toBe('A')
        expect(second.prisma.$cache.stats().invalidationsReceived).toBe(0)
        expect(busOther.messages).toEqual([])
      } finally {
        await busOther.close()
      }
    } finally {
      await deleteKeysWithPrefix(prisma.redis, other)
    }
  })
})
