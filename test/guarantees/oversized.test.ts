// Issue 8 §3.4: a result larger than `maxEntryBytes` is served to its caller
// and cached nowhere: no L1 entry, no Redis entry, no lock left behind, counted
// as oversized. A result within the limit, read alongside, is cached, so the
// checks see the difference.

import type { Redis } from 'ioredis'
import { describe, expect, test } from 'vitest'
import { encodeValue } from '../../src/codec.js'
import { usePrismaFixture } from '../adapters/prisma/fixture.js'
import { redisCaches } from '../fixtures/redis-cache.js'
import { countKeys } from '../helpers/prefix.js'

const LIMIT = 2_000

/** A row list whose encoding is exactly `bytes` long. */
function valueOfSize(bytes: number): { rows: string } {
  const overhead = encodeValue({ rows: '' }).byteLength
  // A str16 header is 3 bytes against fixstr's 1: grow the text until the size is exact.
  for (let text = Math.max(0, bytes - overhead - 2); text <= bytes; text++) {
    const value = { rows: 'x'.repeat(text) }
    const size = encodeValue(value).byteLength
    if (size === bytes) return value
    if (size > bytes) break
  }
  throw new Error(`no value encodes to exactly ${bytes} bytes`)
}

describe('the engine', () => {
  const engine = redisCaches('guarantee-oversized')

  test('one byte over the limit is served and not cached; at the limit it is cached', async () => {
    const prefix = engine.prefix()
    const cache = await engine.liveCache(prefix, { maxEntryBytes: LIMIT })
    const admin = (await engine.admin()) as Redis
    const atLimit = valueOfSize(LIMIT)
    const over = valueOfSize(LIMIT + 1)
    let loads = 0
    const load =
      <T>(value: T) =>
      () => {
        loads++
        return value
      }
    for (let read = 1; read <= 3; read++) {
      expect(await cache.getOrLoad('over', ['T'], load(over))).toStrictEqual(over)
      expect(await cache.getOrLoad('fits', ['T'], load(atLimit))).toStrictEqual(atLimit)
    }
    // Every read of the big value loaded; the one at the limit loaded once, then came from L1.
    expect(loads).toBe(3 + 1)
    const stats = cache.stats()
    expect(stats.oversized).toBe(3)
    expect(stats.l1Hits).toBe(2)
    expect(stats.l1Entries).toBe(1)
    await engine.stored(prefix, 'fits')
    // close() waits for writes still under way, so what is in Redis now is all there will be.
    await cache.close()
    expect(await admin.exists(engine.entryKey(prefix, 'over'))).toBe(0)
    expect(await countKeys(admin, `${prefix}:e:*`)).toBe(1)
    expect(await countKeys(admin, `${prefix}:l:*`)).toBe(0)
  })
})

describe('Prisma', () => {
  const prisma = usePrismaFixture('guarantee_oversized')

  test('a list over maxEntryBytes goes to the database each time and is right each time', async () => {
    const { prisma: base } = prisma.base()
    await base.user.createMany({
      data: Array.from({ length: 20 }, (_, index) => ({ email: `u${index}@x.test`, name: 'n'.repeat(200) })),
    })
    const { prisma: client, queries } = await prisma.cached({ maxEntryBytes: LIMIT })
    const expected = await base.user.findMany({ orderBy: { id: 'asc' } })
    expect(encodeValue(expected).byteLength).toBeGreaterThan(LIMIT)
    for (let read = 1; read <= 3; read++) {
      const count = await queries.during(async () => {
        expect(await client.user.findMany({ orderBy: { id: 'asc' } })).toStrictEqual(expected)
      })
      expect(count).toBe(1)
    }
    // A small read on the same client is cached: the limit, not the client, kept the list out.
    const one = await client.user.findUnique({ where: { id: 1 } })
    expect(await queries.during(() => client.user.findUnique({ where: { id: 1 } }))).toBe(0)
    expect(one).toStrictEqual(expected[0])
    const stats = client.$cache.stats()
    expect(stats.oversized).toBe(3)
    expect(stats.l1Entries).toBe(1)
    await prisma.entriesInRedis(1)
    // The list's loads finished before the small read began; their stores would have been written first.
    expect(await countKeys(prisma.redis, `${prisma.prefix}:e:*`)).toBe(1)
    expect(await countKeys(prisma.redis, `${prisma.prefix}:l:*`)).toBe(0)
  })
})
