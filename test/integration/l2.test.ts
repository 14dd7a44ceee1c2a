import fc from 'fast-check'
import { Redis } from 'ioredis'
import { Packr } from 'msgpackr'
import { describe, expect, test, vi } from 'vitest'
import { registerPrismaCodec } from '../../adapters/prisma/decimal.js'
import { encodeEntry, encodeValue } from '../../src/codec.js'
import { createCache } from '../../src/index.js'
import { redisCaches } from '../fixtures/redis-cache.js'
import { ormResult, sameClassesDeep } from '../fixtures/values.js'
import { redisUrl } from '../helpers/services.js'

registerPrismaCodec()
const redis = redisCaches('l2')
const fail = () => {
  throw new Error('the loader must not run: the value is in Redis')
}

describe('L2 on the real Redis', () => {
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

  test('an invalidation by one instance is seen by the next read of another', async () => {
    const prefix = redis.prefix()
    const writer = await redis.cache(prefix)
    const reader = await redis.cache(prefix, { l1: false })
    await reader.getOrLoad('user:1', ['User:1'], () => 'old')
    await redis.stored(prefix, 'user:1')
    await writer.invalidate(['User:1'])
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
    await writer.invalidate(['T'])
    finishLoad('before the write')
    expect(await slow).toBe('before the write')
    // The store is refused by Redis: wait until the writer's background work is over.
    await vi.waitUntil(() => slowLoader.stats().staleSetsPrevented === 1, { timeout: 5_000 })
    expect(await (await redis.admin()).exists(redis.entryKey(prefix, 'k'))).toBe(0)
    expect(await reader.getOrLoad('k', ['T'], () => 'after the write')).toBe('after the write')
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
    await cache.invalidate(['T'])
    const admin = await redis.admin()
    const first = await admin.get(redis.tagKey(prefix, 'T'))
    await admin.del(redis.tagKey(prefix, 'T'))
    await (await redis.cache(prefix)).invalidate(['T'])
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

  test('a user-supplied client is used as is, keyPrefix respected, and not closed', async () => {
    const prefix = redis.prefix()
    const client = new Redis(await redisUrl(), { keyPrefix: `${prefix}:app:` })
    try {
      const cache = createCache({ redis: client, prefix })
      await cache.getOrLoad('k', ['T'], () => 'v')
      const admin = await redis.admin()
      await vi.waitUntil(async () => (await admin.exists(`${prefix}:app:${prefix}:e:k`)) === 1, { timeout: 5_000 })
      expect(await admin.exists(`${prefix}:app:{${prefix}}:t:T`)).toBe(1)
      await cache.close()
      expect(client.status).toBe('ready')
      expect(await client.ping()).toBe('PONG')
    } finally {
      client.disconnect()
    }
  })

  test('two prefixes on one Redis never see each other', async () => {
    const first = await redis.cache(redis.prefix())
    const second = await redis.cache(redis.prefix())
    await first.getOrLoad('k', ['T'], () => 'first')
    expect(await second.getOrLoad('k', ['T'], () => 'second')).toBe('second')
    await second.invalidate(['T'])
    expect(await first.getOrLoad('k', ['T'], fail)).toBe('first')
  })

  test('with Redis unreachable the loader serves every read, and only the first pays the timeout', async () => {
    const cache = createCache({ redis: 'redis://127.0.0.1:1', prefix: redis.prefix(), timeout: '100ms' })
    try {
      for (let i = 0; i < 5; i++) {
        expect(await cache.getOrLoad('k', ['T'], () => i)).toBe(i)
      }
      await cache.invalidate(['T'])
      const stats = cache.stats()
      expect(stats.loads).toBe(5)
      // One failure opened the circuit; everything after skipped Redis without trying it.
      expect(stats.circuitOpens).toBe(1)
      expect(stats.redisErrors).toBeLessThanOrEqual(2)
      // Nothing was served from memory either: nothing says memory is coherent while Redis is away.
      expect(stats.l1Hits).toBe(0)
      expect(stats.pendingInvalidations).toBe(1)
    } finally {
      await cache.close()
    }
  })
})
