import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, test, vi } from 'vitest'
import { registerPrismaCodec } from '../../adapters/prisma/decimal.js'
import { encodeEntry, encodeValue } from '../../src/codec.js'
import { type RedisTarget, redisCaches } from '../fixtures/redis-cache.js'
import { ormResult, sameClassesDeep } from '../fixtures/values.js'
import { until } from '../fixtures/wait.js'

registerPrismaCodec()

const fail = () => {
  throw new Error('the loader must not run: the value is in Redis')
}

/**
 * The engine's contract on one Redis deployment: run against the shared
 * standalone Redis and against a 3-node cluster, so both pass the same tests.
 */
export function defineEngineSuite(target: RedisTarget): void {
  const redis = redisCaches('engine', target)

  describe(`L2 on ${target.name} Redis`, () => {
    test('an entry loaded by one instance is a hit for another', async () => {
      const prefix = redis.prefix()
      const writer = await redis.cache(prefix)
      const reader = await redis.cache(prefix)
      expect(await writer.getOrLoad('user:1', ['User', 'User:1'], () => ({ id: 1 }))).toEqual({ id: 1 })
      await redis.stored(prefix, 'user:1')
      expect(await reader.getOrLoad('user:1', ['User', 'User:1'], fail)).toEqual({ id: 1 })
      expect(reader.stats()).toMatchObject({ l2Hits: 1, loads: 0 })
      // Now in the reader's L1 too.
      expect(await reader.getOrLoad('user:1', ['User', 'User:1'], fail)).toEqual({ id: 1 })
      expect(reader.stats().l1Hits).toBe(1)
    })

    test('every ORM type survives the trip through Redis to a second instance', async () => {
      const prefix = redis.prefix()
      const writer = await redis.cache(prefix, { l1: false })
      const reader = await redis.cache(prefix, { l1: false })
      let index = 0
      await fc.assert(
        fc.asyncProperty(ormResult, async (value) => {
          const key = `value:${index++}`
          await writer.getOrLoad(key, ['T'], () => value)
          await redis.stored(prefix, key)
          const decoded = await reader.getOrLoad(key, ['T'], fail)
          expect(decoded).toStrictEqual(value)
          expect(sameClassesDeep(decoded, value)).toBeUndefined()
        }),
        { numRuns: 150 },
      )
      expect(reader.stats().l2Hits).toBe(150)
    })

    test("a cold instance's first repeat of a read is an L1 hit", async () => {
      const prefix = redis.prefix()
      const cache = await redis.cache(prefix)
      const loader = vi.fn(() => 'value')
      expect(await cache.getOrLoad('key', ['T'], loader)).toBe('value')
      expect(await cache.getOrLoad('key', ['T'], loader)).toBe('value')
      expect(loader).toHaveBeenCalledTimes(1)
      expect(cache.stats()).toMatchObject({ loads: 1, l1Hits: 1, l2Hits: 0 })
    })

    test('the same tags in another order are one entry in Redis, not a stale reject', async () => {
      const prefix = redis.prefix()
      const first = await redis.cache(prefix, { l1: false })
      const second = await redis.cache(prefix, { l1: false })
      expect(await first.getOrLoad('key', ['A', 'B'], () => 'value')).toBe('value')
      await redis.stored(prefix, 'key')
      expect(await second.getOrLoad('key', ['B', 'A'], fail)).toBe('value')
      expect(await first.getOrLoad('key', ['B', 'A', 'A'], fail)).toBe('value')
      expect(await second.getOrLoad('key', ['A', 'B'], fail)).toBe('value')
      expect(first.stats()).toMatchObject({ loads: 1, l2Hits: 1, staleRejects: 0 })
      expect(second.stats()).toMatchObject({ loads: 0, l2Hits: 2, staleRejects: 0 })
    })

    test('an invalidation by one instance is seen by the next read of another', async () => {
      const prefix = redis.prefix()
      const writer = await redis.cache(prefix)
      const reader = await redis.cache(prefix, { l1: false })
      await reader.getOrLoad('user:1', ['User:1'], () => 'old')
      await redis.stored(prefix, 'user:1')
      await writer.invalidate({ tags: ['User:1'] })
      expect(await reader.getOrLoad('user:1', ['User:1'], () => 'new')).toBe('new')
      expect(reader.stats().staleRejects).toBe(1)
    })

    test('a load that began before another instance invalidated leaves nothing servable', async () => {
      const prefix = redis.prefix()
      const slowLoader = await redis.cache(prefix)
      const writer = await redis.cache(prefix)
      const reader = await redis.cache(prefix)
      let finishLoad!: (value: string) => void
      let loadStarted!: () => void
      const started = new Promise<void>((resolve) => {
        loadStarted = resolve
      })
      const slow = slowLoader.getOrLoad('k', ['T'], () => {
        loadStarted()
        return new Promise<string>((resolve) => {
          finishLoad = resolve
        })
      })
      await started
      await writer.invalidate({ tags: ['T'] })
      finishLoad('before the write')
      expect(await slow).toBe('before the write')
      // Refused by Redis, or not sent when the bus told the slow instance first; either way its
      // fill lock is released in the background: the key then holds nothing (an entry stored
      // against the write would stay for its TTL, and fail this wait).
      await vi.waitUntil(() => slowLoader.stats().staleSetsPrevented >= 1, { timeout: 5_000 })
      const admin = await redis.admin()
      await vi.waitUntil(async () => (await admin.exists(redis.entryKey(prefix, 'k'))) === 0, { timeout: 3_000 })
      expect(await reader.getOrLoad('k', ['T'], () => 'after the write')).toBe('after the write')
      // Not in the slow instance's memory either.
      expect(await slowLoader.getOrLoad('k', ['T'], () => 'after the write')).toBe('after the write')
    })

    test('losing every tag key (eviction, restart) never revives an old entry', async () => {
      const prefix = redis.prefix()
      const writer = await redis.cache(prefix)
      const reader = await redis.cache(prefix, { l1: false })
      await writer.getOrLoad('k', ['A', 'B'], () => 'v1')
      await redis.stored(prefix, 'k')
      const admin = await redis.admin()
      expect(await admin.del(redis.tagKey(prefix, 'A'), redis.tagKey(prefix, 'B'))).toBe(2)
      expect(await reader.getOrLoad('k', ['A', 'B'], () => 'v2')).toBe('v2')
      expect(reader.stats()).toMatchObject({ staleRejects: 1, l2Hits: 0 })
    })

    test('versions are unique ids, not counters', async () => {
      const prefix = redis.prefix()
      const cache = await redis.cache(prefix)
      await cache.invalidate({ tags: ['T'] })
      const admin = await redis.admin()
      const first = await admin.get(redis.tagKey(prefix, 'T'))
      await admin.del(redis.tagKey(prefix, 'T'))
      await (await redis.cache(prefix)).invalidate({ tags: ['T'] })
      const second = await admin.get(redis.tagKey(prefix, 'T'))
      expect(first).toMatch(/^[A-Za-z0-9_-]{12}\.[0-9a-z]+\.1$/)
      expect(second).not.toBe(first)
      expect(await admin.pttl(redis.tagKey(prefix, 'T'))).toBeGreaterThan(0)
    })

    describe('bytes in Redis that are not an entry of ours are a miss, deleted and counted', () => {
      /** An entry as the engine writes it, valid for the prefix's current namespace-wide tag version. */
      async function validEntry(prefix: string, value: unknown): Promise<Buffer> {
        const admin = await redis.admin()
        const allTagKey = redis.tagKey(prefix, '*')
        await admin.set(allTagKey, 'planted.1', 'NX')
        const version = (await admin.get(allTagKey)) ?? ''
        return encodeEntry(
          { tags: ['*'], versions: [version], expiresAt: Date.now() + 60_000, loadMs: 1 },
          encodeValue(value),
        )
      }
      const row = { id: 1, name: 'x'.repeat(40) }
      const plants: [string, (prefix: string) => Promise<Buffer>][] = [
        ['random bytes', async () => Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37])],
        ['text', async () => Buffer.from('{"id":1}')],
        ['foreign msgpack', async () => new Packr().pack({ id: 1, from: 'another app' })],
        ['an empty string', async () => Buffer.alloc(0)],
        ['a truncated header', async (prefix) => (await validEntry(prefix, row)).subarray(0, 8)],
        ['an entry whose value is cut short', async (prefix) => (await validEntry(prefix, row)).subarray(0, -5)],
      ]
      test('a planted valid entry is served, so the plants below are judged by their bytes alone', async () => {
        const prefix = redis.prefix()
        const cache = await redis.cache(prefix, { l1: false })
        await (await redis.admin()).set(redis.entryKey(prefix, 'k'), await validEntry(prefix, row))
        expect(await cache.getOrLoad('k', [], fail)).toEqual(row)
      })
      test.each(plants)('%s', async (_, plant) => {
        const prefix = redis.prefix()
        const cache = await redis.cache(prefix, { l1: false })
        const admin = await redis.admin()
        await admin.set(redis.entryKey(prefix, 'k'), await plant(prefix))
        expect(await cache.getOrLoad('k', [], () => 'loaded')).toBe('loaded')
        expect(cache.stats().corruptEntries).toBe(1)
        // Replaced by the real entry, which the next read serves.
        await redis.stored(prefix, 'k')
        expect(await cache.getOrLoad('k', [], fail)).toBe('loaded')
      })

      test('an entry larger than maxEntryBytes', async () => {
        const prefix = redis.prefix()
        const cache = await redis.cache(prefix, { l1: false, maxEntryBytes: 1_000 })
        const admin = await redis.admin()
        await admin.set(redis.entryKey(prefix, 'k'), await validEntry(prefix, 'y'.repeat(5_000)))
        expect(await cache.getOrLoad('k', [], () => 'small')).toBe('small')
        expect(cache.stats().corruptEntries).toBe(1)
        await redis.stored(prefix, 'k')
        expect(await cache.getOrLoad('k', [], fail)).toBe('small')
      })
    })
    test('two prefixes on one Redis never see each other', async () => {
      const first = await redis.cache(redis.prefix())
      const second = await redis.cache(redis.prefix())
      await first.getOrLoad('k', ['T'], () => 'first')
      expect(await second.getOrLoad('k', ['T'], () => 'second')).toBe('second')
      await second.invalidate({ tags: ['T'] })
      expect(await first.getOrLoad('k', ['T'], fail)).toBe('first')
    })
  })

  describe(`instances on ${target.name} Redis`, () => {
    test('an invalidation in one instance stops another serving its L1 copy', async () => {
      const prefix = redis.prefix()
      const writer = await redis.liveCache(prefix)
      const reader = await redis.liveCache(prefix)
      let version = 1
      expect(await reader.getOrLoad('k', ['T'], () => version)).toBe(1)
      expect(await reader.getOrLoad('k', ['T'], fail)).toBe(1)
      expect(reader.stats().l1Hits).toBe(1)
      version = 2
      await writer.invalidate({ tags: ['T'] })
      await until(() => reader.stats().invalidationsReceived === 1, 'the invalidation to arrive')
      expect(await reader.getOrLoad('k', ['T'], () => version)).toBe(2)
      // An instance ignores its own messages: it invalidated locally already.
      expect(writer.stats().invalidationsReceived).toBe(0)
    })

    test('invalidateAll in one instance empties every instance', async () => {
      const prefix = redis.prefix()
      const writer = await redis.liveCache(prefix)
      const reader = await redis.liveCache(prefix)
      const second = await redis.liveCache(prefix, { l1: false })
      await reader.getOrLoad('a', ['A'], () => 'old a')
      await reader.getOrLoad('b', [], () => 'old b')
      await redis.stored(prefix, 'b')
      await writer.invalidateAll()
      await until(() => reader.stats().invalidationsReceived === 1, 'the invalidation to arrive')
      // Redis no longer serves the old entry...
      expect(await second.getOrLoad('b', [], () => 'new b')).toBe('new b')
      // ...and neither does the other instance's memory.
      expect(await reader.getOrLoad('a', ['A'], () => 'new a')).toBe('new a')
      expect(await reader.getOrLoad('b', [], () => 'newer b')).not.toBe('old b')
    })

    test('200 concurrent misses of one key across 4 instances run the loader once', async () => {
      const prefix = redis.prefix()
      const instances = await Promise.all([1, 2, 3, 4].map(() => redis.liveCache(prefix)))
      let loads = 0
      const loader = async () => {
        loads++
        await new Promise((resolve) => setTimeout(resolve, 50))
        return { id: 1, loadedBy: loads }
      }
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => instances[i % 4]?.getOrLoad('hot', ['T'], loader)),
      )
      expect(loads).toBe(1)
      expect(results.every((result) => result?.loadedBy === 1)).toBe(true)
      const stats = instances.map((instance) => instance.stats())
      expect(stats.reduce((sum, s) => sum + s.loads, 0)).toBe(1)
      expect(stats.reduce((sum, s) => sum + s.lockWaits, 0)).toBe(3)
      expect(stats.reduce((sum, s) => sum + s.sharedLoads, 0)).toBe(196)
    })

    test('when the lock holder never finishes, the others take over after its lock expires', async () => {
      const prefix = redis.prefix()
      // The lock TTL also bounds the taker-over's own load and store: at 300 ms, a loaded machine's
      // stall of the test process let that lock expire too, and a second instance took over (seen once).
      const options = { lock: { ttl: '1s', wait: '10s' } } as const
      const holder = await redis.liveCache(prefix, options)
      const others = await Promise.all([1, 2, 3].map(() => redis.liveCache(prefix, options)))
      let release!: () => void
      const stuck = holder.getOrLoad(
        'hot',
        ['T'],
        () => new Promise<string>((resolve) => (release = () => resolve('from the stuck holder'))),
      )
      const admin = await redis.admin()
      await until(async () => (await admin.getBuffer(`${prefix}:e:hot`))?.[0] === 0, 'the holder to take the fill lock')
      let takeovers = 0
      const results = await Promise.all(
        others.map((instance) =>
          instance.getOrLoad('hot', ['T'], async () => {
            takeovers++
            return 'from the instance that took over'
          }),
        ),
      )
      expect(takeovers).toBe(1)
      expect(results).toEqual(Array(3).fill('from the instance that took over'))
      release()
      expect(await stuck).toBe('from the stuck holder')
    })
  })
}
