import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, test } from 'vitest'
import { registerPrismaCodec } from '../../adapters/prisma/decimal.js'
import { redisCaches } from '../fixtures/redis-cache.js'
import { ormResult } from '../fixtures/values.js'

// Whatever sits under a cache key — random bytes, another app's msgpack, our
// own entries damaged anywhere — a read returns either the loader's value or
// exactly what was cached, never throws, and never touches a prototype.

registerPrismaCodec()
const redis = redisCaches('hostile')
const LOADED = { from: 'the loader' }

function unpolluted(): boolean {
  const probe: Record<string, unknown> = {}
  return probe.polluted === undefined && probe.isAdmin === undefined && Object.keys(Object.prototype).length === 0
}

describe('hostile bytes under real cache keys', () => {
  test('bytes that start like a fill lock without being one are a corrupt entry, deleted at once', async () => {
    const prefix = redis.prefix()
    const reader = await redis.cache(prefix, { l1: false, lock: { ttl: '5s', wait: '5s' } })
    const admin = await redis.admin()
    const planted = [
      Buffer.from([0]),
      Buffer.from('\u0000fil'),
      Buffer.concat([Buffer.from('\u0000fill:'), Buffer.alloc(200, 97)]),
    ]
    for (const [index, bytes] of planted.entries()) {
      await admin.set(redis.entryKey(prefix, `k${index}`), bytes)
      expect(await reader.getOrLoad(`k${index}`, ['T'], () => LOADED)).toEqual(LOADED)
    }
    // Taken for another instance's lock, each read would have waited (lockWaits) for lock.wait.
    expect(reader.stats()).toMatchObject({ corruptEntries: 3, lockWaits: 0, loads: 3 })
  })

  test('damaged entries are a miss or the exact cached value', async () => {
    const prefix = redis.prefix()
    const writer = await redis.cache(prefix, { l1: false })
    const reader = await redis.cache(prefix, { l1: false })
    const admin = await redis.admin()
    let index = 0
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      }),
    )
    await fc.assert(
      fc.asyncProperty(ormResult, fc.array(damage, { minLength: 1, maxLength: 3 }), async (value, damages) => {
        const key = `fuzz:${index++}`
        await writer.getOrLoad(key, ['T'], () => value)
        await redis.stored(prefix, key)
        let bytes = (await admin.getBuffer(redis.entryKey(prefix, key))) ?? Buffer.alloc(0)
        for (const change of damages) bytes = applyDamage(bytes, change)
        await admin.set(redis.entryKey(prefix, key), bytes)
        const read = await reader.getOrLoad(key, ['T'], () => LOADED)
        if (read !== LOADED) expect(read).toStrictEqual(value)
        expect(unpolluted()).toBe(true)
      }),
      { numRuns: 300 },
    )
    const { loads, l2Hits, corruptEntries } = reader.stats()
    expect(loads + l2Hits).toBe(300)
    // Most damage is caught as damage, not served: the checksum covers the value.
    expect(corruptEntries).toBeGreaterThan(150)
  })

  test('random bytes and foreign msgpack are misses, deleted and counted', async () => {
    const prefix = redis.prefix()
    const reader = await redis.cache(prefix, { l1: false })
    const admin = await redis.admin()
    const foreign = new Packr({ useRecords: false })
    const planted = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
      fc.jsonValue().map((json) => foreign.pack(json)),
      fc
        .dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'polluted', 'isAdmin'), fc.jsonValue())
        .map((object) => foreign.pack([1, ['*'], ['x'], Date.now() + 60_000, 1, 0, object])),
    )
    let index = 0
    await fc.assert(
      fc.asyncProperty(planted, async (bytes) => {
        const key = `planted:${index++}`
        await admin.set(redis.entryKey(prefix, key), bytes)
        expect(await reader.getOrLoad(key, ['T'], () => LOADED)).toBe(LOADED)
        expect(unpolluted()).toBe(true)
      }),
      { numRuns: 300 },
    )
    // Empty values are not entries; everything else was recognised as foreign and counted.
    expect(reader.stats().corruptEntries).toBeGreaterThan(250)
    expect(reader.stats().l2Hits).toBe(0)
    expect(reader.stats().loads).toBe(300)
  })
})

type Damage =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }

function applyDamage(bytes: Buffer, damage: Damage): Buffer {
  if (bytes.length === 0) return bytes
  const at = damage.at % bytes.length
  switch (damage.kind) {
    case 'flip': {
      const copy = Buffer.from(bytes)
      copy[at] = damage.byte
      return copy
    }
    case 'cut':
      return bytes.subarray(0, at)
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), damage.bytes, bytes.subarray(at)])
  }
}
