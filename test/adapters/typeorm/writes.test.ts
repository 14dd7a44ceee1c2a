import { describe, expect, test } from 'vitest'
import { cacheOf } from '../../../adapters/typeorm/index.js'
import { Post, Profile, Tag, User } from './entities.js'
import { type TestDataSource, useTypeormFixture } from './fixture.js'

const fixture = useTypeormFixture('typeorm-writes')

async function seed() {
  const { dataSource } = fixture.plain
  const profile = await dataSource.getRepository(Profile).save({ bio: 'hello' })
  const users = dataSource.getRepository(User)
  await users.save({ email: 'a@x.test', name: 'A', labels: ['a'], visits: '1', balance: '1.00', profile })
  await users.save({ email: 'b@x.test', name: 'B', labels: [], visits: '2', balance: '2.00' })
  await users.save({ email: 'c@x.test', name: 'C', labels: [], visits: '3', balance: '3.00' })
  const [news, sport] = await dataSource.getRepository(Tag).save([{ name: 'news' }, { name: 'sport' }])
  const posts = dataSource.getRepository(Post)
  await posts.save({ title: 'p1', user: { id: 1 }, tags: [news!] })
  await posts.save({ title: 'p2', user: { id: 1 }, tags: [] })
  await posts.save({ title: 'p3', user: { id: 2 }, tags: [sport!] })
}

/**
 * Caches `read` through `cached`, runs `write`, and returns how many statements
 * the next read sends (0: still cached) after checking it matches an uncached read.
 */
async function afterWrite<T>(
  cached: TestDataSource,
  read: (source: TestDataSource['dataSource']) => Promise<T>,
  write: () => Promise<unknown>,
): Promise<number> {
  await read(cached.dataSource)
  expect(await cached.queries.during(() => read(cached.dataSource))).toBe(0)
  await write()
  let result: T | undefined
  const sent = await cached.queries.during(async () => {
    result = await read(cached.dataSource)
  })
  expect(result).toStrictEqual(await read(fixture.plain.dataSource))
  return sent
}

const allUsers = (source: TestDataSource['dataSource']) => source.getRepository(User).find({ order: { id: 'ASC' } })
const countUsers = (source: TestDataSource['dataSource']) => source.getRepository(User).count()
const userById = (id: number) => (source: TestDataSource['dataSource']) => source.getRepository(User).findOneBy({ id })
const allPosts = (source: TestDataSource['dataSource']) =>
  source.getRepository(Post).find({ relations: { tags: true }, order: { id: 'ASC', tags: { id: 'ASC' } } })

describe('writes through withCache invalidate what they change', () => {
  test('an update of user 1 evicts its lookup, find() and count(), and leaves user 2 cached', async () => {
    await seed()
    const cached = await fixture.cached()
    const users = cached.dataSource.getRepository(User)
    for (const read of [allUsers, countUsers, userById(1), userById(2)]) await read(cached.dataSource)

    await users.update({ id: 1 }, { name: 'A2' })
    expect(await cached.queries.during(() => userById(2)(cached.dataSource))).toBe(0)
    expect(await cached.queries.during(() => userById(1)(cached.dataSource))).toBeGreaterThan(0)
    expect((await userById(1)(cached.dataSource))!.name).toBe('A2')
    expect(await cached.queries.during(() => allUsers(cached.dataSource))).toBe(1)
    expect(await cached.queries.during(() => countUsers(cached.dataSource))).toBe(1)
  })

  type Write = (source: TestDataSource) => Promise<unknown>
  const repository = (source: TestDataSource) => source.dataSource.getRepository(User)
  // [write, the user it changes, whether the SQL names that user's key (else every lookup goes)]
  const cases: [string, number, boolean, Write][] = [
    ['save (update)', 1, true, (s) => repository(s).save({ id: 1, name: 'saved' })],
    ['update by criteria', 1, false, (s) => repository(s).update({ name: 'A' }, { name: 'A3' })],
    ['increment', 1, true, (s) => repository(s).increment({ id: 1 }, 'visits', 5)],
    ['decrement by criteria', 1, false, (s) => repository(s).decrement({ name: 'A' }, 'visits', 1)],
    ['softDelete', 1, true, (s) => repository(s).softDelete(1)],
    [
      'softRemove and recover',
      1,
      true,
      async (s) => {
        const user = await repository(s).findOneByOrFail({ id: 1 })
        await repository(s).softRemove(user)
        await repository(s).recover(user)
        await repository(s).update(1, { name: 'recovered' })
      },
    ],
    [
      'restore',
      1,
      true,
      async (s) => {
        await fixture.plain.dataSource.getRepository(User).softDelete(1)
        await repository(s).restore(1)
      },
    ],
    ['upsert on a unique column', 1, true, (s) => repository(s).upsert({ email: 'a@x.test', name: 'up' }, ['email'])],
    ['delete by id', 3, true, (s) => repository(s).delete(3)],
    ['remove', 3, true, async (s) => repository(s).remove(await repository(s).findOneByOrFail({ id: 3 }))],
    [
      'QueryBuilder update',
      1,
      false,
      (s) =>
        s.dataSource
          .createQueryBuilder()
          .update(User)
          .set({ name: 'qb' })
          .where('name = :name', { name: 'A' })
          .execute(),
    ],
    [
      'QueryBuilder delete',
      3,
      false,
      (s) =>
        s.dataSource.createQueryBuilder().delete().from(User).where('email = :email', { email: 'c@x.test' }).execute(),
    ],
    [
      'QueryBuilder softDelete',
      1,
      true,
      (s) => repository(s).createQueryBuilder().softDelete().where('id = 1').execute(),
    ],
  ]

  test.each(cases)('%s evicts the lookup of the row it writes and every list', async (_, target, keyed, write) => {
    await seed()
    const cached = await fixture.cached()
    const lookupTarget = userById(target)
    const other = userById(2)
    for (const read of [allUsers, countUsers, lookupTarget, other]) await read(cached.dataSource)
    await write(cached)
    for (const read of [allUsers, countUsers, lookupTarget]) {
      let result: unknown
      expect(await cached.queries.during(async () => (result = await read(cached.dataSource)))).toBeGreaterThan(0)
      expect(result).toStrictEqual(await read(fixture.plain.dataSource))
    }
    // A write that names its rows by key leaves other rows' lookups cached.
    expect((await cached.queries.during(() => other(cached.dataSource))) === 0).toBe(keyed)
    expect(await other(cached.dataSource)).toStrictEqual(await other(fixture.plain.dataSource))
  })

  test('insert, save of a new entity and QueryBuilder insert evict lists and a cached "not found" of the new id', async () => {
    await seed()
    const cached = await fixture.cached()
    const users = cached.dataSource.getRepository(User)
    const inserts = [
      () => users.insert({ email: 'd@x.test', name: 'D' }),
      () => users.save({ email: 'e@x.test', name: 'E' }),
      () =>
        cached.dataSource.createQueryBuilder().insert().into(User).values({ email: 'f@x.test', name: 'F' }).execute(),
      () =>
        cached.dataSource
          .createQueryBuilder()
          .insert()
          .into(User)
          .values({ email: 'g@x.test', name: 'G' })
          .updateEntity(false)
          .execute(),
    ]
    let nextId = 4
    for (const insert of inserts) {
      const id = nextId++
      expect(await userById(id)(cached.dataSource)).toBeNull()
      expect(await afterWrite(cached, countUsers, insert)).toBe(1)
      expect(
        await cached.queries.during(async () => expect((await userById(id)(cached.dataSource))?.id).toBe(id)),
      ).toBeGreaterThan(0)
    }
  })

  test('a write to one user leaves the lookups of other users cached, a write by criteria evicts them all', async () => {
    await seed()
    const cached = await fixture.cached()
    const users = cached.dataSource.getRepository(User)
    await userById(2)(cached.dataSource)
    await userById(3)(cached.dataSource)
    await users.save({ id: 1, name: 'one' })
    await users.increment({ id: 1 }, 'visits', 1)
    await users.softDelete(1)
    expect(await cached.queries.during(() => userById(2)(cached.dataSource))).toBe(0)
    await users.update({ name: 'C' }, { name: 'C2' })
    expect(await cached.queries.during(() => userById(2)(cached.dataSource))).toBeGreaterThan(0)
    expect(await cached.queries.during(() => userById(3)(cached.dataSource))).toBeGreaterThan(0)
    expect((await userById(3)(cached.dataSource))!.name).toBe('C2')
  })

  test('the hidden pagination query of a paginated join is evicted by remove (typeorm #8243)', async () => {
    await seed()
    const cached = await fixture.cached()
    const page = (source: TestDataSource['dataSource']) =>
      source
        .getRepository(User)
        .createQueryBuilder('u')
        .leftJoinAndSelect('u.posts', 'p')
        .orderBy('u.id')
        .skip(0)
        .take(2)
        .cache('first-page', 60_000)
        .getMany()
    expect((await page(cached.dataSource)).map((user) => user.id)).toStrictEqual([1, 2])
    const users = cached.dataSource.getRepository(User)
    const sent = await afterWrite(cached, page, async () => users.remove(await users.findOneByOrFail({ id: 2 })))
    expect(sent).toBe(2)
    expect((await page(cached.dataSource)).map((user) => user.id)).toStrictEqual([1, 3])
  })

  test('adding and removing many-to-many links through RelationQueryBuilder evicts reads of both sides', async () => {
    await seed()
    const cached = await fixture.cached()
    const tagsWithPosts = (source: TestDataSource['dataSource']) =>
      source.getRepository(Tag).find({ relations: { posts: true }, order: { id: 'ASC', posts: { id: 'ASC' } } })
    const relation = () => cached.dataSource.createQueryBuilder().relation(Post, 'tags').of(2)
    expect(await afterWrite(cached, allPosts, () => relation().add(1))).toBe(1)
    expect(await afterWrite(cached, tagsWithPosts, () => relation().add(2))).toBe(1)
    expect(await afterWrite(cached, allPosts, () => relation().remove(1))).toBe(1)
    expect(await afterWrite(cached, tagsWithPosts, () => relation().addAndRemove([1], [2]))).toBe(1)
    const post = (source: TestDataSource['dataSource']) =>
      source.getRepository(Post).findOne({ where: { id: 2 }, relations: { tags: true } })
    expect(await afterWrite(cached, post, () => relation().remove(1))).toBeGreaterThan(0)
  })

  test("a delete cascading in the database (ON DELETE CASCADE) evicts the child table's reads", async () => {
    await seed()
    const cached = await fixture.cached()
    const posts = (source: TestDataSource['dataSource']) => source.getRepository(Post).find({ order: { id: 'ASC' } })
    const post3 = (source: TestDataSource['dataSource']) => source.getRepository(Post).findOneBy({ id: 3 })
    await post3(cached.dataSource)
    expect(await afterWrite(cached, posts, () => cached.dataSource.getRepository(User).delete(1))).toBe(1)
    // The junction rows of the deleted posts went too: reads of tags with their posts.
    const tags = (source: TestDataSource['dataSource']) =>
      source.getRepository(Tag).find({ relations: { posts: true }, order: { id: 'ASC' } })
    expect(await afterWrite(cached, tags, () => cached.dataSource.getRepository(User).delete(2))).toBe(1)
    expect(await cached.queries.during(async () => expect(await post3(cached.dataSource)).toBeNull())).toBe(1)
  })

  test('a delete that sets references to NULL in the database (ON DELETE SET NULL) evicts the referencing rows', async () => {
    await seed()
    const cached = await fixture.cached()
    // Reads user.profileId without joining profile: only the foreign key tells it changes.
    const profileIds = (source: TestDataSource['dataSource']) =>
      source
        .getRepository(User)
        .createQueryBuilder('u')
        .select(['u.id AS id', 'u.profileId AS "profileId"'])
        .orderBy('u.id')
        .getRawMany()
    expect(await afterWrite(cached, profileIds, () => cached.dataSource.getRepository(Profile).delete(1))).toBe(1)
    expect((await profileIds(cached.dataSource))[0]).toStrictEqual({ id: 1, profileId: null })
  })

  test('clear() and TRUNCATE … CASCADE evict the tables they empty', async () => {
    await seed()
    const cached = await fixture.cached()
    // The junction table is the one no foreign key references, so TRUNCATE without CASCADE works on it.
    expect(await afterWrite(cached, allPosts, () => cached.dataSource.manager.clear('post_tags_tag'))).toBe(1)
    const truncate = () => cached.dataSource.query(`TRUNCATE "${fixture.schema}"."user" CASCADE`)
    expect(await afterWrite(cached, allPosts, truncate)).toBe(1)
  })

  test('raw query() writes evict the tables they name; what cannot be told evicts everything', async () => {
    await seed()
    const cached = await fixture.cached()
    const table = `"${fixture.schema}"."user"`
    const raw = (sql: string, parameters?: unknown[]) => () => cached.dataSource.query(sql, parameters)
    expect(
      await afterWrite(cached, allUsers, raw(`UPDATE ${table} SET name = $1 WHERE email = $2`, ['raw', 'b@x.test'])),
    ).toBe(1)
    expect(
      await afterWrite(cached, userById(2), raw(`update ${table} set name = 'again' where id = 2`)),
    ).toBeGreaterThan(0)
    expect(
      await afterWrite(
        cached,
        allUsers,
        raw(`WITH gone AS (DELETE FROM ${table} WHERE id = 3 RETURNING id) SELECT * FROM gone`),
      ),
    ).toBe(1)
    // Writes to another table leave users cached.
    expect(await afterWrite(cached, allUsers, raw(`UPDATE "${fixture.schema}"."tag" SET name = 'x'`))).toBe(0)
    // A function call, a DO block: no telling what they write.
    expect(await afterWrite(cached, allUsers, raw(`DO $$ BEGIN UPDATE ${table} SET name = 'do'; END $$`))).toBe(1)
    const invalidationsBefore = cacheOf(cached.dataSource).stats().invalidations
    await raw('SELECT 1')()
    expect(cacheOf(cached.dataSource).stats().invalidations).toBe(invalidationsBefore)
  })

  test('a failed write still invalidates (it may have been applied before the error reached us)', async () => {
    await seed()
    const cached = await fixture.cached()
    const users = cached.dataSource.getRepository(User)
    await allUsers(cached.dataSource)
    await expect(users.insert({ email: 'a@x.test', name: 'duplicate' })).rejects.toThrow()
    expect(await cached.queries.during(() => allUsers(cached.dataSource))).toBe(1)
  })
})
