import { describe, expect, test, vi } from 'vitest'
import { cacheOf } from '../../../adapters/typeorm/index.js'
import { sameClassesDeep } from '../../fixtures/values.js'
import { Post, Profile, Tag, User } from './entities.js'
import { seedUsersAndPosts, useTypeormFixture } from './fixture.js'

const fixture = useTypeormFixture('typeorm-reads')

function seed() {
  return seedUsersAndPosts(fixture.plain.dataSource)
}

describe('reads through withCache', () => {
  test('a second identical find is a hit and sends no query', async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached()
    const users = dataSource.getRepository(User)

    expect(await queries.during(() => users.find({ where: { name: 'A' } }))).toBe(1)
    expect(await queries.during(() => users.find({ where: { name: 'A' } }))).toBe(0)
    expect(cacheOf(dataSource).stats()).toMatchObject({ l1Hits: 1, loads: 1 })
    // Other parameters are another entry.
    expect(await queries.during(() => users.find({ where: { name: 'B' } }))).toBe(1)
  })

  test('every kind of read is cached', async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached()
    const users = dataSource.getRepository(User)
    const reads = [
      () => users.find(),
      () => users.findOneBy({ id: 1 }),
      () => users.findOne({ where: { email: 'b@x.test' } }),
      () => users.findBy({ name: 'A' }),
      () => users.count(),
      () => users.exists({ where: { name: 'A' } }),
      () => users.find({ relations: { posts: { tags: true } } }),
      () => users.createQueryBuilder('u').leftJoinAndSelect('u.posts', 'p').getMany(),
      () =>
        users
          .createQueryBuilder('u')
          .select('u.name', 'name')
          .addSelect('COUNT(*)', 'n')
          .groupBy('u.name')
          .getRawMany(),
      () => users.createQueryBuilder('u').where('u.id = :id', { id: 2 }).getOne(),
      () => users.createQueryBuilder('u').getManyAndCount(),
      () => dataSource.getRepository(Tag).find({ relations: { posts: true } }),
    ]
    for (const read of reads) {
      const uncached = await read()
      expect(await queries.during(read)).toBe(0)
      expect(await read()).toStrictEqual(uncached)
    }
  })

  test("TypeORM's JSON copy of cached rows for its QueryResultCache is skipped; the rows the app gets serialize as usual", async () => {
    await seed()
    const { dataSource } = await fixture.cached()
    const provider = dataSource.queryResultCache
    if (provider === undefined) throw new Error('withCache sets a query result cache')
    const stored = vi.spyOn(provider, 'storeInCache')
    const read = (source: typeof dataSource) =>
      source.getRepository(User).createQueryBuilder('u').select(['u.id', 'u.name']).orderBy('u.id').getRawMany()
    const uncached = JSON.stringify(await read(fixture.plain.dataSource))
    for (const origin of ['load', 'l1 hit']) {
      const rows = await read(dataSource)
      expect(Object.hasOwn(rows, 'toJSON'), origin).toBe(false)
      expect(JSON.stringify(rows), origin).toBe(uncached)
    }
    expect(stored.mock.calls.map(([options]) => options.result)).toEqual(['null', 'null'])
  })

  test('Date, transformer, bigint and decimal come back exactly, from L1 and from Redis, as entity classes', async () => {
    await seed()
    const writer = await fixture.cached()
    const viaRedis = await fixture.cached({ l1: false })
    const read = (dataSource: typeof writer.dataSource) =>
      dataSource.getRepository(User).find({ relations: { posts: { tags: true } }, order: { id: 'ASC' } })

    const uncached = await read(fixture.plain.dataSource)
    const loaded = await read(writer.dataSource)
    const fromL1 = await read(writer.dataSource)
    await fixture.entriesInRedis(1)
    let fromRedis: User[] = []
    expect(await viaRedis.queries.during(async () => (fromRedis = await read(viaRedis.dataSource)))).toBe(0)

    expect(cacheOf(writer.dataSource).stats().l1Hits).toBe(1)
    expect(cacheOf(viaRedis.dataSource).stats().l2Hits).toBe(1)
    for (const cached of [loaded, fromL1, fromRedis]) {
      expect(cached).toStrictEqual(uncached)
      expect(sameClassesDeep(cached, uncached)).toBeUndefined()
      const [first] = cached
      expect(first).toBeInstanceOf(User)
      expect(first!.createdAt).toBeInstanceOf(Date)
      expect(first!.createdAt).toStrictEqual(new Date('2024-02-29T23:59:59.123Z'))
      expect(first!.labels).toStrictEqual(['red', 'blue'])
      expect(first!.visits).toBe('9007199254740993')
      expect(first!.balance).toBe('12345.67')
      expect(first!.profile).toBeInstanceOf(Profile)
      expect(first!.posts![0]).toBeInstanceOf(Post)
      expect(first!.posts![0]!.tags![0]).toBeInstanceOf(Tag)
    }
  })

  test('a cached result can be mutated by its caller without changing the cache', async () => {
    await seed()
    const { dataSource } = await fixture.cached()
    const users = dataSource.getRepository(User)
    const first = await users.findOneByOrFail({ id: 1 })
    first.name = 'changed'
    first.createdAt.setTime(0)
    first.labels.push('green')
    const again = await users.findOneByOrFail({ id: 1 })
    expect(again.name).toBe('A')
    expect(again.createdAt).toStrictEqual(new Date('2024-02-29T23:59:59.123Z'))
    expect(again.labels).toStrictEqual(['red', 'blue'])
  })

  test('find({ cache: false }) and .cache(false) always go to the database', async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached()
    const users = dataSource.getRepository(User)
    for (let i = 0; i < 3; i++) {
      expect(await queries.during(() => users.find({ where: { name: 'A' }, cache: false }))).toBe(1)
      expect(await queries.during(() => users.createQueryBuilder('u').cache(false).getMany())).toBe(1)
    }
  })

  test("TypeORM's per-query cache settings keep working: .cache(ms), .cache(id, ms), remove([id])", async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached()
    const builder = () => dataSource.getRepository(User).createQueryBuilder('u').where('u.name = :name', { name: 'A' })

    expect(await queries.during(() => builder().cache(60_000).getMany())).toBe(1)
    expect(await queries.during(() => builder().cache(60_000).getMany())).toBe(0)
    expect(await queries.during(() => builder().cache('users-a', 60_000).getMany())).toBe(1)
    expect(await queries.during(() => builder().cache('users-a', 60_000).getMany())).toBe(0)
    // The id names the entry for invalidation; TypeORM's own API for it still works.
    await dataSource.queryResultCache!.remove(['users-a'])
    expect(await queries.during(() => builder().cache('users-a', 60_000).getMany())).toBe(1)
    await cacheOf(dataSource).invalidate({ tags: ['users-a'] })
    expect(await queries.during(() => builder().cache('users-a', 60_000).getMany())).toBe(1)
    // An entity name invalidates every read of its table.
    expect(await queries.during(() => builder().cache(60_000).getMany())).toBe(0)
    await cacheOf(dataSource).invalidate({ tags: ['User'] })
    expect(await queries.during(() => builder().cache(60_000).getMany())).toBe(1)
    // TypeORM's clear() invalidates everything (it never flushes Redis).
    await dataSource.queryResultCache!.clear()
    expect(await queries.during(() => builder().cache(60_000).getMany())).toBe(1)
  })

  test('a short .cache(ms) expires', async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached()
    const read = () => dataSource.getRepository(User).createQueryBuilder('u').cache(30).getMany()
    // The TTL counts from before the load began.
    const loadedAt = Date.now()
    expect(await queries.during(read)).toBe(1)
    // Served until it expires, loaded again after: polls, no fixed sleep.
    let again = 0
    while (again === 0) {
      again = await queries.during(read)
      if (again === 0) expect(Date.now() - loadedAt).toBeLessThan(2_000)
    }
    expect(Date.now() - loadedAt).toBeGreaterThanOrEqual(30)
  })

  test('getManyAndCount from the cache gives the right count, and an insert evicts both (typeorm #4277)', async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached()
    const users = dataSource.getRepository(User)
    const page = () =>
      users.createQueryBuilder('u').orderBy('u.id').take(1).cache('users-page', 60_000).getManyAndCount()

    const [firstRows, firstCount] = await page()
    expect(firstRows.map((user) => user.id)).toStrictEqual([1])
    expect(firstCount).toBe(2)
    expect(await queries.during(page)).toBe(0)
    expect((await page())[1]).toBe(2)

    await users.insert({ email: 'c@x.test', name: 'C' })
    const sent = await queries.during(async () => expect((await page())[1]).toBe(3))
    expect(sent).toBe(2)
  })

  test('reads inside a transaction go to the database and are not cached', async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached()
    await dataSource.getRepository(User).findOneBy({ id: 1 })
    const inside = await queries.during(() =>
      dataSource.transaction(async (manager) => {
        await manager.getRepository(User).findOneBy({ id: 1 })
        await manager.getRepository(User).findOneBy({ id: 1 })
      }),
    )
    expect(inside).toBe(4) // findOneBy with an eager relation is two statements
    const runner = dataSource.createQueryRunner()
    try {
      await runner.startTransaction()
      expect(await queries.during(() => runner.manager.getRepository(User).find())).toBe(1)
      expect(await queries.during(() => runner.manager.getRepository(User).find())).toBe(1)
      await runner.commitTransaction()
    } finally {
      await runner.release()
    }
  })

  test('save() loads the current rows from the database, never from the cache', async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached()
    const users = dataSource.getRepository(User)
    const user = await users.findOneByOrFail({ id: 1 })
    // A write the cache cannot see (another app): save() must still diff against the database.
    await fixture.plain.dataSource.query(`UPDATE "${fixture.schema}"."user" SET "name" = 'elsewhere' WHERE "id" = 1`)
    user.name = 'A'
    const sent = await queries.during(() => users.save(user))
    expect(sent).toBe(2) // the load, and the UPDATE the difference calls for
    expect((await fixture.plain.dataSource.getRepository(User).findOneByOrFail({ id: 1 })).name).toBe('A')
  })

  test('options are validated at construction and entity names at initialize()', async () => {
    const { withCache } = await import('../../../adapters/typeorm/index.js')
    const base = fixture.options(fixture.plain.queries)
    expect(() => withCache(base, { ttl: 'soon' as never })).toThrow(/`ttl`/)
    expect(() => withCache(base, { queries: 'some' as never })).toThrow(/`queries`/)
    expect(() => withCache(base, { entities: { User: { ttl: '1h', size: 1 } as never } })).toThrow(
      /`entities.User.size`/,
    )
    expect(() => withCache({ ...base, cache: { provider: () => undefined as never } })).toThrow(/cache.provider/)
    const { DataSource } = await import('typeorm')
    const dataSource = new DataSource(
      withCache(base, { redis: fixture.redisUrl, prefix: fixture.prefix, entities: { Usr: false } }),
    )
    await expect(dataSource.initialize()).rejects.toThrow(/`entities.Usr`.*User/)
    expect(dataSource.isInitialized).toBe(false)
  })

  test('entities: false is never cached; a ttl per entity applies', async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached({ entities: { Tag: false, User: { ttl: '25ms' } } })
    const tags = () => dataSource.getRepository(Tag).find()
    expect(await queries.during(tags)).toBe(1)
    expect(await queries.during(tags)).toBe(1)
    // A read joining Tag is not cached either.
    const posts = () => dataSource.getRepository(Post).find({ relations: { tags: true } })
    expect(await queries.during(posts)).toBe(1)
    expect(await queries.during(posts)).toBe(1)
    const plainPosts = () => dataSource.getRepository(Post).find()
    expect(await queries.during(plainPosts)).toBe(1)
    expect(await queries.during(plainPosts)).toBe(0)
    const users = () => dataSource.getRepository(User).find({ loadEagerRelations: false })
    expect(await queries.during(users)).toBe(1)
    const loadedAt = Date.now()
    let again = 0
    while (again === 0) {
      again = await queries.during(users)
      if (again === 0) expect(Date.now() - loadedAt).toBeLessThan(2_000)
    }
  })

  test("queries: 'explicit' caches only reads that ask", async () => {
    await seed()
    const { dataSource, queries } = await fixture.cached({ queries: 'explicit' })
    const users = dataSource.getRepository(User)
    expect(await queries.during(() => users.find())).toBe(1)
    expect(await queries.during(() => users.find())).toBe(1)
    expect(await queries.during(() => users.find({ cache: true }))).toBe(1)
    expect(await queries.during(() => users.find({ cache: true }))).toBe(0)
  })

  test('keys hold no raw values', async () => {
    await seed()
    const { dataSource } = await fixture.cached()
    await dataSource.getRepository(User).findOneBy({ email: 'a@x.test' })
    await fixture.entriesInRedis(1)
    const keys = await fixture.redis.keys(`*${fixture.prefix}*`)
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) expect(key).not.toMatch(/a@x|x\.test/)
  })

  test('destroy() closes the Redis connections the cache opened; a DataSource that is not ours has no cache', async () => {
    const { hostname, port } = new URL(fixture.redisUrl)
    const connectionName = `${fixture.prefix}-own`
    const { dataSource } = await fixture.cached({ redis: { host: hostname, port: Number(port), connectionName } })
    await dataSource.getRepository(User).find()
    const connections = async () =>
      String(await fixture.redis.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${connectionName}`)).length
    // One connection for commands, one for the bus.
    expect(await connections()).toBe(2)
    await dataSource.destroy()
    await vi.waitUntil(async () => (await connections()) === 0, { timeout: 5_000 })
    expect(() => cacheOf(fixture.plain.dataSource)).toThrow(/withCache/)
  })
})
