// Issue 8 §3.1: whatever is planted under a real cache key — random bytes, a real
// entry damaged or with its header edited (checksum kept valid), forged values
// with `__proto__` keys or huge length prefixes — a read never throws, never
// touches a prototype, gets the database's value, and the bad entry is deleted
// and counted. Keys come from real reads through the engine and through Prisma.
import { Decimal } from '@prisma/client/runtime/client'
import fc from 'fast-check'
import type { Redis } from 'ioredis'
import { describe, expect, test } from 'vitest'
import { registerPrismaCodec } from '../../adapters/prisma/decimal.js'
import { decodeEntry, decodeValue } from '../../src/codec.js'
import type { CacheStats } from '../../src/stats.js'
import { usePrismaFixture } from '../adapters/prisma/fixture.js'
import { redisCaches } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { entryStored } from '../helpers/prefix.js'
import {
  EVERY_FORGERY,
  type Mutation,
  mutate,
  mutation,
  noForeignPrototype,
  prototypeIntact,
} from './entry-mutations.js'

registerPrismaCodec()
const engine = redisCaches('guarantee-hostile')
const prisma = usePrismaFixture('guarantee_hostile')

/** One cached read under test: `write` caches case `index` and names its entry's Redis key; `read` reads it again elsewhere. */
interface ReadUnderTest {
  write(index: number): Promise<string>
  read(index: number): Promise<{ value: unknown; queries: number }>
  truth(index: number): unknown
  stats(): CacheStats
  readonly admin: Redis
}

const FUZZ_RUNS = 100
// A header's load time may be damaged into a huge one, for which an early refresh is due: a
// correct background reload, but one that would land in the next case's counts. Readers here
// do not refresh early, so every load counted is the read's own.
const READER = { l1: false, earlyRefresh: false } as const

/** Plants each mutation of a real entry under its key, reads, and checks the five promises of §3.1. */
async function plantAndRead(subject: ReadUnderTest): Promise<{ cases: number; corrupt: number; served: number }> {
  let index = 0
  let corrupt = 0
  let served = 0
  const check = async (change: Mutation) => {
    const at = index++
    const entryKey = await subject.write(at)
    await until(() => entryStored(subject.admin, entryKey), `entry ${entryKey} in Redis`)
    const valid = (await subject.admin.getBuffer(entryKey))!
    const planted = mutate(valid, change)
    await subject.admin.set(entryKey, planted)
    const before = subject.stats()

    const { value, queries } = await subject.read(at)

    expect(value).toStrictEqual(subject.truth(at))
    expect(prototypeIntact()).toBe(true)
    expect(noForeignPrototype(value)).toBe(true)
    const after = subject.stats()
    const hits = after.l2Hits - before.l2Hits
    const corrupted = after.corruptEntries - before.corruptEntries
    expect(hits + (after.loads - before.loads)).toBe(1)
    expect(queries).toBe(1 - hits)
    const entry = decodeEntry(planted)
    if (entry === undefined || !decodes(entry.valueBytes)) {
      // Not an entry, or one whose value cannot be read exactly: a counted miss, and the bytes are gone.
      expect(corrupted, `${JSON.stringify(change)} should count as corrupt`).toBe(1)
      expect(hits).toBe(0)
    }
    if (hits === 0) {
      await until(async () => !(await subject.admin.getBuffer(entryKey))?.equals(planted), `${entryKey} replaced`)
    }
    corrupt += corrupted
    served += hits
  }
  for (const change of EVERY_FORGERY) await check(change)
  await fc.assert(fc.asyncProperty(mutation, check), { numRuns: FUZZ_RUNS })
  return { cases: index, corrupt, served }
}

function decodes(valueBytes: Uint8Array): boolean {
  try {
    decodeValue(valueBytes)
    return true
  } catch {
    return false
  }
}

describe('bad bytes under real cache keys', () => {
  test('through the engine', async () => {
    const prefix = engine.prefix()
    const writer = await engine.cache(prefix, { l1: false })
    const reader = await engine.cache(prefix, READER)
    const admin = (await engine.admin()) as Redis
    const truth = (index: number) => ({
      id: BigInt(index) * 10n ** 20n,
      email: `user${index}@example.com`,
      at: new Date(1_700_000_000_000 + index),
      bytes: Buffer.from([index & 0xff, 1, 2]),
      price: new Decimal(`${index}.25`),
      rows: [{ n: index, tags: ['a', 'b'] }, null],
    })
    const key = (index: number) => `users:${index}`
    const outcome = await plantAndRead({
      admin,
      truth,
      stats: () => reader.stats(),
      write: async (index) => {
        await writer.getOrLoad(key(index), ['User', `User#${index}`], () => truth(index))
        return engine.entryKey(prefix, key(index))
      },
      read: async (index) => {
        let queries = 0
        const value = await reader.getOrLoad(key(index), ['User', `User#${index}`], () => {
          queries++
          return truth(index)
        })
        return { value, queries }
      },
    })
    expect(outcome.cases).toBe(EVERY_FORGERY.length + FUZZ_RUNS)
    // Most mutations are damage the format or the checksum catches; the rest are stale or expired headers.
    expect(outcome.corrupt).toBeGreaterThan(outcome.cases / 2)
  })

  test('through the Prisma adapter', async () => {
    const { prisma: base } = prisma.base()
    await base.sample.createMany({
      data: [
        {
          id: 1n,
          amount: '12.5',
          at: new Date(1e12),
          bytes: new Uint8Array([1, 2]),
          json: { a: [1, 'x'] },
          label: 'one',
        },
        {
          id: 2n ** 62n,
          amount: '-0.0000000001',
          at: new Date(0),
          bytes: new Uint8Array(),
          json: null as never,
          label: null,
        },
      ],
    })
    const writer = await prisma.cached()
    const reader = await prisma.cached(READER)
    // A query of its own per case: a key of its own, so no earlier case's background store can land on it.
    const query = (index: number) => ({ where: { label: { not: `case-${index}` } }, orderBy: { id: 'asc' as const } })
    const truth = new Map<number, unknown>()
    const outcome = await plantAndRead({
      admin: prisma.redis,
      truth: (index) => truth.get(index),
      stats: () => reader.prisma.$cache.stats(),
      write: async (index) => {
        truth.set(index, await base.sample.findMany(query(index)))
        const { info } = await writer.prisma.$cache.withInfo(() => writer.prisma.sample.findMany(query(index)))
        expect(info.origin).toBe('database')
        return `${prisma.prefix}:e:${info.key}`
      },
      read: async (index) => {
        let value: unknown
        const queries = await reader.queries.during(async () => {
          value = await reader.prisma.sample.findMany(query(index))
        })
        return { value, queries }
      },
    })
    expect(outcome.corrupt).toBeGreaterThan(outcome.cases / 2)
  })
})
