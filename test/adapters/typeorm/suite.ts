// The behaviour every database must show, as a suite each database's test file
// runs on its own fixture: decorator metadata reaching the schema, hits that
// send nothing and return exactly what the database returns (every column type
// of the model), row-tag granularity, cascades in the database, soft delete,
// many-to-many links and transactions.
import { describe, expect, test } from 'vitest'
import { cacheOf } from '../../../adapters/typeorm/index.js'
import { sameClassesDeep } from '../../fixtures/values.js'
import { documentEntity, Post, User } from './entities.js'
import { seedUsersAndPosts, type TestDataSource, type useTypeormFixture } from './fixture.js'

type Fixture = ReturnType<typeof useTypeormFixture>
type Source = TestDataSource['dataSource']

/** How each driver gives `bigint` and `decimal(12,2)` values, and names the types of columns declared without one. */
const DRIVER = {
  postgres: {
    visits: '9007199254740993',
    balance: '12345.67',
    columnTypes: `SELECT column_name AS "column", data_type AS "type" FROM information_schema.columns
                    WHERE table_schema = $1 AND table_name = 'document'`,
    inferred: { title: 'character varying', revision: 'integer', publishedAt: 'timestamp without time zone' },
  },
  mariadb: {
    visits: '9007199254740993',
    balance: '12345.67',
    columnTypes: `SELECT column_name AS \`column\`, column_type AS \`type\` FROM information_schema.columns
                    WHERE table_schema = DATABASE() AND table_name = 'document'`,
    inferred: { title: 'varchar(255)', revision: 'int(11)', publishedAt: 'datetime(3)' },
  },
  // better-sqlite3 gives numbers: 2^53 + 1 comes back as the nearest double.
  sqlite: {
    visits: 9007199254740992,
    balance: 12345.67,
    columnTypes: `SELECT name AS "column", type AS "type" FROM pragma_table_info('document')`,
    inferred: { title: 'varchar', revision: 'integer', publishedAt: 'datetime(3)' },
  },
} as const

const allUsers = (source: Source) =>
  source.getRepository(User).find({ relations: { posts: { tags: true } }, order: { id: 'ASC' } })
const userById = (id: number) => (source: Source) => source.getRepository(User).findOneBy({ id })

export function describeTypeormSuite(fixture: Fixture) {
  const driver = DRIVER[fixture.database]
  const Document = documentEntity(fixture.database)
  const seed = () => seedUsersAndPosts(fixture.plain.dataSource)

  describe(`withCache on ${fixture.database}`, () => {
    test('decorators carry their metadata: columns without a type get it from design:type', async () => {
      expect(Reflect.getMetadata('design:type', Document.prototype, 'publishedAt')).toBe(Date)
      expect(Reflect.getMetadata('design:type', User.prototype, 'name')).toBe(String)
      const parameters = fixture.database === 'postgres' ? [fixture.schema] : []
      const columns = await fixture.plain.dataSource.query(driver.columnTypes, parameters)
      const types = Object.fromEntries(
        (columns as { column: string; type: string }[]).map(({ column, type }) => [column, type.toLowerCase()]),
      )
      expect(types).toMatchObject(driver.inferred)
    })

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
        expect(cachedUsers[0]!.visits).toBe(driver.visits)
        expect(cachedUsers[0]!.balance).toBe(driver.balance)
        expect(cachedUsers[0]!.labels).toStrictEqual(['red', 'blue'])
      }
    })

    test('json, simple-json, binary and Date columns come back exactly, with their owner, from L1 and from Redis', async () => {
      await seed()
      const data = { nested: { list: [1, 2.5, 'three', null, true] }, text: 'é€😀 "quoted"' }
      await fixture.plain.dataSource.getRepository(Document).save({
        title: 'doc',
        revision: 7,
        publishedAt: new Date('2031-12-31T23:59:58.999Z'),
        content: Buffer.from([0, 1, 254, 255]),
        meta: { flags: ['a', 'b'], count: 2 },
        data,
        owner: { id: 1 },
      })
      const documents = (source: Source) =>
        source.getRepository(Document).find({ relations: { owner: true }, order: { id: 'ASC' } })
      const cached = await fixture.cached()
      const viaRedis = await fixture.cached({ l1: false })
      const uncached = await documents(fixture.plain.dataSource)
      await documents(cached.dataSource)
      let fromL1: unknown[] = []
      expect(await cached.queries.during(async () => (fromL1 = await documents(cached.dataSource)))).toBe(0)
      await fixture.entriesInRedis(1)
      let fromRedis: unknown[] = []
      expect(await viaRedis.queries.during(async () => (fromRedis = await documents(viaRedis.dataSource)))).toBe(0)
      for (const cachedDocuments of [fromL1, fromRedis]) {
        expect(cachedDocuments).toStrictEqual(uncached)
        expect(sameClassesDeep(cachedDocuments, uncached)).toBeUndefined()
      }
      const [document] = uncached
      expect(document).toBeInstanceOf(Document)
      expect(Buffer.isBuffer(document!.content)).toBe(true)
      expect([...document!.content]).toStrictEqual([0, 1, 254, 255])
      expect(document!.data).toStrictEqual(data)
      expect(document!.publishedAt).toStrictEqual(new Date('2031-12-31T23:59:58.999Z'))
      expect(document!.owner).toBeInstanceOf(User)

      // The owner's delete sets the key to NULL in the database: the cached documents go.
      await cached.dataSource.getRepository(User).delete(1)
      expect(
        await cached.queries.during(async () => expect((await documents(cached.dataSource))[0]!.owner).toBeNull()),
      ).toBe(1)
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

      // The new row's id comes from VALUES, RETURNING or insertId: the cached "not found" of id 3 goes, user 2 stays.
      await cached.dataSource.getRepository(User).insert({ email: 'c@x.test', name: 'C' })
      expect(await cached.queries.during(() => userById(2)(cached.dataSource))).toBe(0)
      expect((await userById(3)(cached.dataSource))?.name).toBe('C')
    })

    test('an insert that ignores conflicts (orIgnore) evicts the lists of its table', async () => {
      await seed()
      const cached = await fixture.cached()
      const count = (source: Source) => source.getRepository(User).count()
      expect(await count(cached.dataSource)).toBe(2)
      const insert = (email: string) =>
        cached.dataSource.createQueryBuilder().insert().into(User).values({ email, name: 'I' }).orIgnore().execute()
      await insert('new@x.test')
      expect(await cached.queries.during(async () => expect(await count(cached.dataSource)).toBe(3))).toBe(1)
      // Ignored: nothing changed, and a stale lastInsertRowid or insertId must not matter.
      await insert('new@x.test')
      expect(await count(cached.dataSource)).toBe(3)
    })

    test('soft delete hides a user from cached reads, withDeleted still sees it, restore brings it back', async () => {
      await seed()
      const cached = await fixture.cached()
      const users = cached.dataSource.getRepository(User)
      const ids = async (withDeleted: boolean) =>
        (await users.find({ withDeleted, order: { id: 'ASC' } })).map((user) => user.id)
      expect(await ids(false)).toStrictEqual([1, 2])
      expect(await ids(true)).toStrictEqual([1, 2])
      await users.softDelete(2)
      expect(await ids(false)).toStrictEqual([1])
      expect(await ids(true)).toStrictEqual([1, 2])
      expect(await userById(2)(cached.dataSource)).toBeNull()
      await users.restore(2)
      expect(await ids(false)).toStrictEqual([1, 2])
      expect((await userById(2)(cached.dataSource))?.deletedAt).toBeNull()
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

    test('a save with cascade inserts the related rows and evicts their cached reads', async () => {
      await seed()
      const cached = await fixture.cached()
      const titles = async (source: Source) =>
        (await source.getRepository(Post).find({ order: { id: 'ASC' } })).map((post) => post.title)
      expect(await titles(cached.dataSource)).toStrictEqual(['first'])
      const user = await cached.dataSource.getRepository(User).findOneByOrFail({ id: 2 })
      user.posts = [Object.assign(new Post(), { title: 'by cascade', tags: [{ name: 'new tag' }] })]
      await cached.dataSource.getRepository(User).save(user)
      expect(await titles(cached.dataSource)).toStrictEqual(['first', 'by cascade'])
      const tagged = await cached.dataSource
        .getRepository(Post)
        .findOneOrFail({ where: { title: 'by cascade' }, relations: { tags: true, user: true } })
      expect(tagged.tags!.map((tag) => tag.name)).toStrictEqual(['new tag'])
      expect(tagged.user!.id).toBe(2)
    })
  })
}
