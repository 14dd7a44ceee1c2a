// The TypeORM query-cache bugs ormcache exists to fix, as scenarios run twice:
// against TypeORM's own Redis cache, where each asserts the bug really happens
// (so the test fails the day TypeORM fixes it and this list needs a look), and
// against withCache, where the cached read must equal the database's answer.
import type { DataSource } from 'typeorm'
import { expect } from 'vitest'
import { documentEntity, User } from '../entities.js'

/** A DataSource with one of the two caches, on a Redis server of the test's own. */
export interface CacheUnderTest {
  readonly dataSource: DataSource
  /** SIGKILLs the cache's Redis, as a crash or a network cut would. */
  killRedis(): Promise<void>
}

/** What the cached DataSource returned, and what the same reads return uncached once the cache has done its part. */
export interface Observation {
  readonly cached: unknown
  readonly expected: unknown
  /** For scenarios with Redis down: the longest a read took while it was. */
  readonly slowestReadMs?: number
}

export interface Scenario {
  /** What TypeORM's cache does wrong, as a test title: "TypeORM built-in cache: <bug> (<issue>)". */
  readonly bug: string
  readonly issue: string
  /** TypeORM's cache options beyond `type` and `options`, as the bug report used them. */
  readonly builtin: { readonly alwaysEnabled: boolean; readonly redisOptions?: Record<string, unknown> }
  /** ormcache's Redis timeout, when the scenario is about Redis failing. */
  readonly redisTimeoutMs?: number
  run(cache: CacheUnderTest, plain: DataSource): Promise<Observation>
  /** Asserts the observation shows the bug. */
  assertBug(observation: Observation): void
}

const MINUTE_MS = 60_000
const CREATED_AT = new Date('2024-02-29T23:59:59.123Z')

/** `count` users, ids 1…count, every column type filled. */
export async function seedUsers(dataSource: DataSource, count: number): Promise<void> {
  const users = dataSource.getRepository(User)
  for (let n = 1; n <= count; n++) {
    await users.save({
      email: `u${n}@x.test`,
      name: `U${n}`,
      createdAt: CREATED_AT,
      labels: ['red'],
      visits: `900719925474099${n}`,
      balance: `${n}.50`,
    })
  }
}

/** Runs `read` twice: the first fills the cache, the second is what a cache hit returns. */
async function hit<T>(read: () => Promise<T>): Promise<T> {
  await read()
  return read()
}

/** Every failure a read can end in, as a value to compare. */
async function outcome<T>(read: () => Promise<T>): Promise<{ value: T } | { error: string }> {
  try {
    return { value: await read() }
  } catch (error) {
    return { error: error instanceof Error ? error.constructor.name : String(error) }
  }
}

export const SCENARIOS: readonly Scenario[] = [
  {
    bug: 'a cached raw read returns timestamptz as strings and bytea as {type,data} objects',
    issue: 'typeorm#2794, typeorm#11288',
    builtin: { alwaysEnabled: false },
    async run({ dataSource }, plain) {
      await seedUsers(plain, 2)
      // Raw rows, as the driver types them: Date, Buffer, parsed JSON, bigint and decimal as strings.
      const read = (source: DataSource) =>
        source
          .getRepository(User)
          .createQueryBuilder('u')
          .select(['u.id AS id', 'u.createdAt AS "createdAt"', 'u.visits AS visits', 'u.balance AS balance'])
          .addSelect(`'\\x0102ff'::bytea`, 'bytes')
          .addSelect(`'{"at": "2024-01-01", "n": 1}'::jsonb`, 'document')
          .addSelect(`DATE '2024-02-29'`, 'day')
          .orderBy('u.id')
          .cache(true)
          .getRawMany()
      return { cached: await hit(() => read(dataSource)), expected: await read(plain) }
    },
    assertBug({ cached, expected }) {
      const [row] = cached as Record<string, unknown>[]
      const [want] = expected as Record<string, unknown>[]
      expect(want!.createdAt).toBeInstanceOf(Date)
      expect(row!.createdAt).toBe(CREATED_AT.toISOString())
      expect(want!.bytes).toBeInstanceOf(Buffer)
      expect(row!.bytes).toStrictEqual({ type: 'Buffer', data: [1, 2, 255] })
      expect(want!.day).toBeInstanceOf(Date)
      expect(typeof row!.day).toBe('string')
    },
  },
  {
    bug: 'a cached find returns a bytea column as a {type,data} object, not a Buffer',
    issue: 'typeorm#2794, typeorm#11288',
    builtin: { alwaysEnabled: true },
    async run({ dataSource }, plain) {
      const Document = documentEntity('postgres')
      await plain.getRepository(Document).save({
        title: 'doc',
        revision: 1,
        publishedAt: CREATED_AT,
        meta: { tags: ['a'], at: '2024-01-01' },
        data: { nested: { n: 1.5, big: '9007199254740993' } },
        content: Buffer.from([0, 1, 254, 255]),
      })
      const read = (source: DataSource) => source.getRepository(Document).find({ order: { id: 'ASC' } })
      return { cached: await hit(() => read(dataSource)), expected: await read(plain) }
    },
    assertBug({ cached, expected }) {
      const [document] = cached as { content: unknown; publishedAt: unknown }[]
      const [want] = expected as { content: unknown; publishedAt: unknown }[]
      expect(want!.content).toBeInstanceOf(Buffer)
      expect(document!.content).toStrictEqual({ type: 'Buffer', data: [0, 1, 254, 255] })
    },
  },
  {
    bug: 'a count cached under the id of a list returns 0',
    issue: 'typeorm#4277',
    builtin: { alwaysEnabled: false },
    async run({ dataSource }, plain) {
      await seedUsers(plain, 3)
      const users = dataSource.getRepository(User)
      // The cache id names the data, not the query: before TypeORM's fix, getManyAndCount
      // sent its count under the list's id exactly like this, and got the list back.
      await users.createQueryBuilder('u').cache('users', MINUTE_MS).getMany()
      const count = await users.createQueryBuilder('u').cache('users', MINUTE_MS).getCount()
      return { cached: count, expected: await plain.getRepository(User).count() }
    },
    assertBug({ cached, expected }) {
      expect(expected).toBe(3)
      expect(cached).toBe(0)
    },
  },
  {
    bug: "getManyAndCount's hidden '-count' entry stays stale after removing its cache id",
    issue: 'typeorm#4277 (the count id of its fix)',
    builtin: { alwaysEnabled: false },
    async run({ dataSource }, plain) {
      await seedUsers(plain, 4)
      const page = (source: DataSource) =>
        source
          .getRepository(User)
          .findAndCount({ cache: { id: 'userBasicList', milliseconds: MINUTE_MS }, order: { id: 'DESC' }, take: 2 })
      await page(dataSource)
      await dataSource.getRepository(User).delete({ id: 1 })
      // What TypeORM's documentation says to do after a write.
      await dataSource.queryResultCache!.remove(['userBasicList'])
      return { cached: await page(dataSource), expected: await page(plain) }
    },
    assertBug({ cached, expected }) {
      const [users, count] = cached as [User[], number]
      expect((expected as [User[], number])[1]).toBe(3)
      expect(users.map((user) => user.id)).toStrictEqual([4, 3])
      expect(count).toBe(4)
    },
  },
  {
    bug: 'the hidden pagination query of a join with take stays stale after removing its cache id',
    issue: 'typeorm#8243',
    builtin: { alwaysEnabled: false },
    async run({ dataSource }, plain) {
      await seedUsers(plain, 3)
      // A join with take: TypeORM first selects the page's ids (the hidden query), then their rows.
      const page = (source: DataSource) =>
        source
          .getRepository(User)
          .createQueryBuilder('u')
          .leftJoinAndSelect('u.posts', 'p')
          .orderBy('u.id')
          .take(2)
          .cache('users-page', MINUTE_MS)
          .getMany()
      await page(dataSource)
      await dataSource.getRepository(User).delete({ id: 1 })
      await dataSource.queryResultCache!.remove(['users-page'])
      return { cached: await page(dataSource), expected: await page(plain) }
    },
    assertBug({ cached, expected }) {
      expect((expected as User[]).map((user) => user.id)).toStrictEqual([2, 3])
      // The stale ids [1, 2] still pick the page: user 1 is gone, and user 3 is missing from it.
      expect((cached as User[]).map((user) => user.id)).toStrictEqual([2])
    },
  },
  {
    bug: 'a save is not seen by a cached find until the entry expires',
    issue: 'no automatic invalidation',
    builtin: { alwaysEnabled: true },
    async run({ dataSource }, plain) {
      await seedUsers(plain, 1)
      const all = (source: DataSource) => source.getRepository(User).find({ order: { id: 'ASC' } })
      await all(dataSource)
      await dataSource.getRepository(User).save({ email: 'new@x.test', name: 'New', labels: [] })
      await dataSource.getRepository(User).update({ id: 1 }, { name: 'Renamed' })
      return { cached: await all(dataSource), expected: await all(plain) }
    },
    assertBug({ cached, expected }) {
      expect((expected as User[]).map((user) => user.name)).toStrictEqual(['Renamed', 'New'])
      expect((cached as User[]).map((user) => user.name)).toStrictEqual(['U1'])
    },
  },
  {
    bug: 'cached reads fail when Redis is down',
    issue: 'typeorm#926',
    // A client that gives up after one reconnect attempt; ioredis' default (20) fails the same way, ~10 s later.
    builtin: { alwaysEnabled: true, redisOptions: { maxRetriesPerRequest: 1 } },
    redisTimeoutMs: 300,
    async run(cache, plain) {
      await seedUsers(plain, 2)
      const all = (source: DataSource) => source.getRepository(User).find({ order: { id: 'ASC' } })
      await all(cache.dataSource)
      await cache.killRedis()
      const reads = []
      let slowestReadMs = 0
      for (let i = 0; i < 3; i++) {
        const started = performance.now()
        reads.push(await outcome(() => all(cache.dataSource)))
        slowestReadMs = Math.max(slowestReadMs, performance.now() - started)
      }
      const want = await all(plain)
      return { cached: reads, expected: [0, 1, 2].map(() => ({ value: want })), slowestReadMs }
    },
    assertBug({ cached }) {
      for (const read of cached as { error?: string }[]) expect(read.error).toBe('MaxRetriesPerRequestError')
    },
  },
]
