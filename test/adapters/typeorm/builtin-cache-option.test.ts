// TypeORM's own `cache` DataSource option under withCache: what maps onto
// ormcache's options (checked by behaviour), and what is refused (by an error
// naming the setting), never dropped without a word.
import { describe, expect, test } from 'vitest'
import { readBuiltinCacheOption } from '../../../adapters/typeorm/builtin-cache-option.js'
import { cacheOf, withCache } from '../../../adapters/typeorm/index.js'
import { User } from './entities.js'
import { seedUsersAndPosts, useTypeormFixture } from './fixture.js'

const fixture = useTypeormFixture('typeorm-builtin-option')

/** Connections of this test's Redis server named `name`. */
async function connectionsNamed(name: string): Promise<number> {
  const list = String(await fixture.redis.client('LIST'))
  return list.split('\n').filter((line) => line.includes(`name=${name} `)).length
}

function redisAddress(): { host: string; port: number } {
  const { hostname, port } = new URL(fixture.redisUrl)
  return { host: hostname, port: Number(port || 6379) }
}

describe("TypeORM's cache option, mapped", () => {
  test('alwaysEnabled: false caches only reads that ask, as ormcache’s explicit mode', async () => {
    await seedUsersAndPosts(fixture.plain.dataSource)
    const { dataSource, queries } = await fixture.cachedWithTypeormCache(
      { alwaysEnabled: false },
      { redis: fixture.redisUrl },
    )
    const users = dataSource.getRepository(User)
    const plainFind = () => users.find({ loadEagerRelations: false })
    expect(await queries.during(plainFind)).toBe(1)
    expect(await queries.during(plainFind)).toBe(1)
    const asking = () => users.find({ loadEagerRelations: false, cache: true })
    expect(await queries.during(asking)).toBe(1)
    expect(await queries.during(asking)).toBe(0)
  })

  test('alwaysEnabled: true, and cache: true, cache every read', async () => {
    await seedUsersAndPosts(fixture.plain.dataSource)
    for (const cache of [{ alwaysEnabled: true }, true] as const) {
      const { dataSource, queries } = await fixture.cachedWithTypeormCache(cache, { redis: fixture.redisUrl })
      const read = () => dataSource.getRepository(User).find({ loadEagerRelations: false })
      await read()
      expect(await queries.during(read), JSON.stringify(cache)).toBe(0)
      await cacheOf(dataSource).invalidateAll()
    }
  })

  test('duration is the default ttl; withCache’s own ttl wins over it', async () => {
    await seedUsersAndPosts(fixture.plain.dataSource)
    const short = await fixture.cachedWithTypeormCache({ duration: 30 }, { redis: fixture.redisUrl })
    const read = () => short.dataSource.getRepository(User).find({ loadEagerRelations: false })
    const loadedAt = Date.now()
    expect(await short.queries.during(read)).toBe(1)
    let again = 0
    while (again === 0) {
      again = await short.queries.during(read)
      if (again === 0) expect(Date.now() - loadedAt).toBeLessThan(2_000)
    }
    expect(Date.now() - loadedAt).toBeGreaterThanOrEqual(30)

    const long = await fixture.cachedWithTypeormCache({ duration: 30 }, { redis: fixture.redisUrl, ttl: '1h' })
    const readLong = () => long.dataSource.getRepository(User).find({ where: { name: 'A' }, loadEagerRelations: false })
    expect(await long.queries.during(readLong)).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await long.queries.during(readLong)).toBe(0)
  })

  test("type 'ioredis' with options is the Redis ormcache connects to", async () => {
    await seedUsersAndPosts(fixture.plain.dataSource)
    const connectionName = `${fixture.prefix}-ioredis`
    const { dataSource, queries } = await fixture.cachedWithTypeormCache({
      type: 'ioredis',
      options: { ...redisAddress(), connectionName },
      alwaysEnabled: true,
      ignoreErrors: true,
    })
    // One connection for commands, one for the bus.
    expect(await connectionsNamed(connectionName)).toBe(2)
    const read = () => dataSource.getRepository(User).find({ loadEagerRelations: false })
    await read()
    await fixture.entriesInRedis(1)
    expect(await queries.during(read)).toBe(0)
  })

  test("type 'redis' with node-redis options is translated to the same connection", async () => {
    const name = `${fixture.prefix}-node-redis`
    await fixture.cachedWithTypeormCache({ type: 'redis', options: { socket: redisAddress(), name } })
    expect(await connectionsNamed(name)).toBe(2)
  })

  test('node-redis options translate field by field, a URL’s parts winning as in node-redis', () => {
    expect(
      readBuiltinCacheOption({
        type: 'redis',
        options: {
          url: 'rediss://me:p%40ss@cache.internal:6380/3',
          socket: { host: 'ignored', port: 1, tls: false },
          name: 'app',
          database: 1,
        },
      }).redis,
    ).toStrictEqual({
      connection: {
        host: 'cache.internal',
        port: 6380,
        tls: {},
        username: 'me',
        password: 'p@ss',
        db: 3,
        connectionName: 'app',
      },
      explicit: true,
    })
    expect(readBuiltinCacheOption({ type: 'redis', options: { url: 'redis://h:1' } }).redis).toStrictEqual({
      connection: 'redis://h:1',
      explicit: true,
    })
    // No options: TypeORM's client would have connected to its default, 127.0.0.1:6379.
    expect(readBuiltinCacheOption({ type: 'ioredis' }).redis).toStrictEqual({ connection: {}, explicit: false })
  })

  test('withCache’s own redis and queries may repeat what the cache option says, not contradict it', () => {
    const base = fixture.options(fixture.plain.queries)
    const connection = { host: '127.0.0.1', port: 6379 }
    expect(() =>
      withCache({ ...base, cache: { type: 'ioredis', options: connection } }, { redis: { ...connection } }),
    ).not.toThrow()
    expect(() => withCache({ ...base, cache: { type: 'ioredis' } }, { redis: fixture.redisUrl })).not.toThrow()
    expect(() => withCache({ ...base, cache: { alwaysEnabled: false } }, { queries: 'explicit' })).not.toThrow()

    expect(() =>
      withCache({ ...base, cache: { type: 'ioredis', options: connection } }, { redis: 'redis://other:6379' }),
    ).toThrow(/`redis` must be absent, or the same connection as `dataSourceOptions.cache.options`/)
    expect(() => withCache({ ...base, cache: { alwaysEnabled: false } }, { queries: 'all' })).toThrow(
      /`queries` must be 'explicit' or absent, as `dataSourceOptions.cache.alwaysEnabled` is false/,
    )
    expect(() => withCache({ ...base, cache: { alwaysEnabled: true } }, { queries: 'explicit' })).toThrow(
      /`queries` must be 'all' or absent, as `dataSourceOptions.cache.alwaysEnabled` is true/,
    )
  })
})

describe("TypeORM's cache option, refused", () => {
  const refusals: [string, unknown, RegExp][] = [
    ['type database', { type: 'database' }, /`dataSourceOptions.cache.type`.*replaces TypeORM's query-result cache/],
    [
      'type ioredis/cluster',
      { type: 'ioredis/cluster', options: { startupNodes: [] } },
      /`dataSourceOptions.cache.type`.*pass it as withCache's `redis`/,
    ],
    ['an unknown type', { type: 'memcached' }, /`dataSourceOptions.cache.type`/],
    [
      'provider',
      { provider: () => undefined },
      /`dataSourceOptions.cache.provider` must be absent: withCache provides/,
    ],
    ['tableName', { tableName: 'query_cache' }, /`dataSourceOptions.cache.tableName`.*never in a table/],
    ['ignoreErrors: false', { ignoreErrors: false }, /`dataSourceOptions.cache.ignoreErrors`.*never fails a query/],
    ['a key TypeORM does not type', { type: 'ioredis', port: 6380 }, /`dataSourceOptions.cache.port`/],
    ['options without a Redis type', { options: { host: 'h' } }, /`dataSourceOptions.cache.options`/],
    ['a duration that is not milliseconds', { duration: '5m' }, /`dataSourceOptions.cache.duration`/],
    ['alwaysEnabled that is not a boolean', { alwaysEnabled: 'yes' }, /`dataSourceOptions.cache.alwaysEnabled`/],
    ['ioredis options that are not', { type: 'ioredis', options: 6380 }, /`dataSourceOptions.cache.options`/],
    [
      'a node-redis option with no ioredis equivalent',
      { type: 'redis', options: { url: 'redis://h:1', RESP: 3 } },
      /`dataSourceOptions.cache.options.RESP`/,
    ],
    [
      'node-redis TLS options',
      { type: 'redis', options: { socket: { host: 'h', tls: true, ca: 'pem' } } },
      /`dataSourceOptions.cache.options.socket.ca`/,
    ],
    ['a cache option that is not one', 'redis', /`dataSourceOptions.cache`/],
  ]
  for (const [what, cache, message] of refusals) {
    test(what, () => {
      const base = fixture.options(fixture.plain.queries)
      expect(() => withCache({ ...base, cache } as typeof base, { redis: fixture.redisUrl })).toThrow(message)
    })
  }
})
