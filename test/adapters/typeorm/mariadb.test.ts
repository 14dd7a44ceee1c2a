// The same adapter on MariaDB (mysql2): `?` placeholders, backticks, insertId
// instead of RETURNING, and bigint/decimal/datetime as that driver gives them.
import { describe, expect, test } from 'vitest'
import { cacheOf } from '../../../adapters/typeorm/index.js'
import { sameClassesDeep } from '../../fixtures/values.js'
import { Post, User } from './entities.js'
import { seedUsersAndPosts, type TestDataSource, useTypeormFixture } from './fixture.js'

const fixture = useTypeormFixture('typeorm-mariadb', 'mariadb')

function seed() {
  return seedUsersAndPosts(fixture.plain.dataSource)
}

type Source = TestDataSource['dataSource']
const allUsers = (source: Source) =>
  source.getRepository(User).find({ relations: { posts: { tags: true } }, order: { id: 'ASC' } })
const userById = (id: number) => (source: Source) => source.getRepository(User).findOneBy({ id })

describe('withCache on MariaDB', () => {
  test('hits send nothing and return exactly what the database returns, from L1 and from Redis', async () => {
    await seed()
    const cached = await fixture.cached()
    const viaRedis = await fixture.cached({ l1: false })
    const uncached = await allUsers(fixture.plain.dataSource)
    expect(await cached.queries.during(() => allUsers(cached.dataSource))).toBeGreaterThan(0)
    let fromL1: User[] = []
    expect(await cached.queries.during(async () => (fromL1 = await allUsers(cached.dataSource)))).toBe(0)
    await fixture.entriesInRedis(1)
    let fromRedis: User[] = []
    expect(await viaRedis.queries.during(async () => (fromRedis = await allUsers(viaRedis.dataSource)))).toBe(0)
    for (const cachedUsers of [fromL1, fromRedis]) {
      expect(cachedUsers).toStrictEqual(uncached)
      expect(sameClassesDeep(cachedUsers, uncached)).toBeUndefined()
      expect(cachedUsers[0]!.createdAt).toStrictEqual(new Date('2024-02-29T23:59:59.123Z'))
      expect(cachedUsers[0]!.visits).toBe('9007199254740993')
      expect(cachedUsers[0]!.balance).toBe('12345.67')
      expect(cachedUsers[0]!.labels).toStrictEqual(['red', 'blue'])
    }
  })

  test('an update of one user evicts lists and its lookup, not the other lookups; an insert evicts a cached miss', async () => {
    await seed()
    const cached = await fixture.cached()
    for (const read of [allUsers, userById(1), userById(2), userById(3)]) await read(cached.dataSource)
    expect(await userById(3)(cached.dataSource)).toBeNull()

    await cached.dataSource.getRepository(User).update({ id: 1 }, { name: 'A2' })
    expect(await cached.queries.during(() => userById(2)(cached.dataSource))).toBe(0)
    expect(await cached.queries.during(() => userById(1)(cached.dataSource))).toBeGreaterThan(0)
    expect(await cached.queries.during(() => allUsers(cached.dataSource))).toBeGreaterThan(0)

    // The new row's id comes from insertId: the cached "not found" of id 3 goes, user 2 stays.
    await cached.dataSource.getRepository(User).insert({ email: 'c@x.test', name: 'C' })
    expect(await cached.queries.during(() => userById(2)(cached.dataSource))).toBe(0)
    expect((await userById(3)(cached.dataSource))?.name).toBe('C')
  })

  test('cascades, many-to-many links and transactions', async () => {
    await seed()
    const cached = await fixture.cached()
    const posts = (source: Source) => source.getRepository(Post).find({ relations: { tags: true } })
    await posts(cached.dataSource)
    await cached.dataSource.createQueryBuilder().relation(Post, 'tags').of(1).remove(1)
    expect(
      await cached.queries.during(async () => expect((await posts(cached.dataSource))[0]!.tags).toStrictEqual([])),
    ).toBe(1)

    const before = cacheOf(cached.dataSource).stats().invalidations
    await expect(
      cached.dataSource.transaction(async (manager) => {
        await manager.getRepository(User).delete(1)
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    expect(cacheOf(cached.dataSource).stats().invalidations).toBe(before)
    expect(await cached.queries.during(() => posts(cached.dataSource))).toBe(0)

    await cached.dataSource.transaction((manager) => manager.getRepository(User).delete(1))
    expect(await cached.queries.during(async () => expect(await posts(cached.dataSource)).toStrictEqual([]))).toBe(1)
  })
})
