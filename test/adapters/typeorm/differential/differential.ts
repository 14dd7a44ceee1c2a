// Acceptance test of the TypeORM adapter, per database: a seeded random
// sequence of reads and writes through a cached DataSource, every read compared
// with the same read through an uncached DataSource on the same database. A
// Redis-only instance on the same prefix reads too, so entries decoded from
// Redis are compared as well as those served from memory.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import type { DataSource } from 'typeorm'
import { expect, test } from 'vitest'
import { cacheOf } from '../../../../adapters/typeorm/index.js'
import { sameClassesDeep } from '../../../fixtures/values.js'
import { documentEntity, type Json, Post, Profile, Tag, User } from '../entities.js'
import type { useTypeormFixture } from '../fixture.js'
import { type Ids, type Params, POOL_EMAILS, READS, type World, WRITES } from './operations.js'

type Fixture = ReturnType<typeof useTypeormFixture>

export interface DifferentialOptions {
  readonly steps: number
  /** Of the cached DataSource's cache reads, at least this share must be hits. */
  readonly minHitRatio: number
}

/** The seed: `ORMCACHE_DIFF_SEED` replays a run; otherwise a fixed one, so every run is the same. */
export function differentialSeed(): number {
  const fromEnvironment = process.env.ORMCACHE_DIFF_SEED
  if (fromEnvironment === undefined || fromEnvironment === '') return 20_261_201
  const seed = Number(fromEnvironment)
  if (!Number.isSafeInteger(seed)) throw new Error(`ORMCACHE_DIFF_SEED must be an integer, got ${fromEnvironment}`)
  return seed
}

const text = fc.string({ unit: fc.constantFrom('a', 'b', 'é', '€', '😀', ' ', '"', '\\'), maxLength: 6 })
const json: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -1_000_000, max: 1_000_000 }),
    text,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('k', 'key', 'x', 'y z'), tie('value'), { maxKeys: 3, noNullPrototype: true }),
  ),
})).value

// Small numbers: the same rows, pages and filters come up again, so reads find their entries cached.
const small = fc.nat({ max: 7 })
const params: fc.Arbitrary<Params> = fc.record({
  a: small,
  b: small,
  c: small,
  flag: fc.boolean(),
  // A top-level null would be SQL NULL, and the column is NOT NULL.
  json: json.filter((value) => value !== null),
  bytes: fc.uint8Array({ maxLength: 12 }),
  // Whole milliseconds within what every database's datetime holds.
  date: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2037, 11, 31) }).map((ms) => new Date(ms)),
})

type Step =
  /** `again`: repeat the read that many reads back, as apps read the same things over and over. */
  | { readonly kind: 'read'; readonly index: number; readonly p: Params; readonly again: number | null }
  | { readonly kind: 'write'; readonly index: number; readonly p: Params }

/** Reads are five sixths of the steps, half of them repeating a recent read, so reads keep finding cached entries. */
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      index: weighted(READS),
      p: params,
      again: fc.option(fc.nat({ max: 4 }), { freq: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('write' as const), index: weighted(WRITES), p: params }) },
)

function weighted(operations: readonly { weight: number }[]): fc.Arbitrary<number> {
  // fast-check weights are integers: tenths.
  return fc.oneof(
    ...operations.map((operation, index) => ({
      weight: Math.round(operation.weight * 10),
      arbitrary: fc.constant(index),
    })),
  )
}

/** Twelve users (six with the pool's emails), profiles, tags, posts with tags, documents. */
async function seed(source: DataSource, documents: World['documents']): Promise<void> {
  const profiles = await source.getRepository(Profile).save([1, 2, 3, 4].map((n) => ({ bio: `bio ${n}` })))
  const tags = await source.getRepository(Tag).save(['news', 'sport', 'tech', 'art'].map((name) => ({ name })))
  const users = await source.getRepository(User).save(
    Array.from({ length: 12 }, (_, n) => ({
      email: n < POOL_EMAILS.length ? POOL_EMAILS[n]! : `seed${n}@x.test`,
      name: 'ABCD'[n % 4]!,
      createdAt: new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 123 + n)),
      labels: n % 2 === 0 ? ['red', 'blue'] : [],
      visits: String(n * 1000),
      balance: `${n * 11}.${n}5`,
      profile: n < profiles.length ? profiles[n]! : null,
    })),
  )
  await source.getRepository(Post).save(
    Array.from({ length: 16 }, (_, n) => ({
      title: `p${n}`,
      user: users[n % 8]!,
      tags: tags.filter((_, t) => (n + t) % 3 === 0),
    })),
  )
  await source.getRepository(documents).save(
    Array.from({ length: 6 }, (_, n) => ({
      title: `d${n}`,
      revision: n,
      publishedAt: new Date(Date.UTC(2030, n, n + 1, 12, 0, 0, n)),
      content: Buffer.from([n, 255 - n, 0]),
      meta: { n, list: ['a', n] },
      data: { n, nested: { ok: n % 2 === 0, items: [n, 'x'] } },
      owner: n < 4 ? users[n]! : null,
    })),
  )
}

const TABLES = ['user', 'post', 'tag', 'profile', 'document'] as const

async function currentIds(source: DataSource, table: (name: string) => string): Promise<Ids> {
  const sql = TABLES.map((name) => `SELECT '${name}' AS t, id FROM ${table(name)}`).join(' UNION ALL ')
  const rows = (await source.query(`${sql} ORDER BY id`)) as { t: (typeof TABLES)[number]; id: number | string }[]
  const ids = Object.fromEntries(TABLES.map((name) => [name, [] as number[]])) as Record<string, number[]>
  for (const row of rows) ids[row.t]!.push(Number(row.id))
  return ids as unknown as Ids
}

/** Registers the differential test of `fixture`'s database. */
export function describeDifferential(fixture: Fixture, options: DifferentialOptions) {
  const documents = documentEntity(fixture.database)
  const placeholder = (index: number) => (fixture.database === 'postgres' ? `$${index}` : '?')

  test(`${options.steps} random reads and writes: every cached read equals the uncached one`, {
    timeout: 120_000,
  }, async () => {
    const seedValue = differentialSeed()
    console.info(`differential ${fixture.database}: seed ${seedValue} (replay with ORMCACHE_DIFF_SEED=${seedValue})`)
    const steps = fc.sample(step, { seed: seedValue, numRuns: options.steps })
    expect(steps).toHaveLength(options.steps)

    const plain = fixture.plain.dataSource
    await seed(plain, documents)
    const cached = (await fixture.cached()).dataSource
    const viaRedis = (await fixture.cached({ l1: false })).dataSource
    let emails = 0
    const world: World = {
      cached,
      documents,
      table: (name) => fixture.table(name),
      placeholder,
      nextEmail: () => `n${emails++}@x.test`,
    }

    let ids = await currentIds(plain, world.table)
    const history: string[] = []
    const recent: { index: number; p: Params }[] = []
    const counts = { reads: 0, writes: 0, failedWrites: 0 }
    const failures = new Map<string, { count: number; first: string }>()
    for (const [position, current] of steps.entries()) {
      if (current.kind === 'write') {
        const write = WRITES[current.index]!
        history.push(`#${position} write ${write.name} ${JSON.stringify(current.p, replacer)}`)
        counts.writes++
        // A write may fail (a link that exists, a key that does not): it still invalidates, and the reads must agree.
        await write.run(world, ids, current.p).catch((error: unknown) => {
          counts.failedWrites++
          const failure = failures.get(write.name) ?? { count: 0, first: String(error).slice(0, 160) }
          failures.set(write.name, { ...failure, count: failure.count + 1 })
        })
        ids = await currentIds(plain, world.table)
        continue
      }
      const { index, p } = (current.again !== null && recent.at(-1 - current.again)) || current
      recent.push({ index, p })
      if (recent.length > 5) recent.shift()
      const read = READS[index]!
      history.push(`#${position} read ${read.name} ${JSON.stringify(p, replacer)}`)
      counts.reads++
      // No write is under way: the uncached and the cached read see the same rows, so they may overlap.
      const [expected, actual] = await Promise.all([
        read.run(plain, ids, p, documents),
        read.run(cached, ids, p, documents),
      ])
      compare(actual, expected, 'cached')
      // The Redis-only instance reads every third step: enough entries come from Redis, in less time.
      if (position % 3 === 0) compare(await read.run(viaRedis, ids, p, documents), expected, 'Redis-only')

      function compare(actual: unknown, expected: unknown, where: string): void {
        const mismatch =
          sameClassesDeep(actual, expected) ?? (isDeepStrictEqual(actual, expected) ? undefined : 'values differ')
        if (mismatch === undefined) return
        throw new Error(
          `step ${position} (seed ${seedValue}), ${where} read "${read.name}": ${mismatch}\n` +
            `last steps:\n${history.slice(-15).join('\n')}\n` +
            `expected ${JSON.stringify(expected, replacer)}\nactual   ${JSON.stringify(actual, replacer)}`,
        )
      }
    }

    const stats = cacheOf(cached).stats()
    const hits = stats.l1Hits + stats.l2Hits
    console.info(
      `differential ${fixture.database}: ${counts.reads} reads, ${counts.writes} writes (${counts.failedWrites} failed), ` +
        `cached instance ${hits} hits / ${stats.misses} misses, Redis-only ${cacheOf(viaRedis).stats().l2Hits} hits`,
    )
    console.info(
      [...failures].map(([name, { count, first }]) => `  ${name}: ${count} failed, e.g. ${first}`).join('\n'),
    )
    expect(counts.reads + counts.writes).toBe(options.steps)
    // Failures are the odd duplicate link or missing key, not a kind of write that never works.
    expect(counts.failedWrites).toBeLessThan(counts.writes * 0.05)
    expect(hits / (hits + stats.misses)).toBeGreaterThan(options.minHitRatio)
    expect(cacheOf(viaRedis).stats().l2Hits).toBeGreaterThan(0)
    expect(stats.redisErrors).toBe(0)
  })
}

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value
}
