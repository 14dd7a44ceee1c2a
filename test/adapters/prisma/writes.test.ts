import { describe, expect, test } from 'vitest'
import { type CachedClient, cachedRead, usePrismaFixture } from './fixture.js'
import { Prisma } from './generated/client.js'

const fixture = usePrismaFixture('prisma-writes')

async function seedUsers(prisma: CachedClient) {
  const one = await prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
  const two = await prisma.user.create({ data: { email: 'two@x.test', name: 'Two' } })
  return { one, two }
}

describe('row-level granularity', () => {
  test("an update of user 1 keeps user 2's findUnique cached and evicts lists and counts", async () => {
    const { prisma, queries } = await fixture.cached()
    const { one, two } = await seedUsers(prisma)
    const userOne = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }))
    const userTwo = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: two.id } }))
    const list = await cachedRead(queries, () => prisma.user.findMany({ orderBy: { id: 'asc' } }))
    const count = await cachedRead(queries, () => prisma.user.count({ where: { name: 'Uno' } }))

    await prisma.user.update({ where: { id: one.id }, data: { name: 'Uno' } })

    expect(await userTwo()).toMatchObject({ queries: 0, value: { name: 'Two' } })
    expect(await userOne()).toMatchObject({ queries: 1, value: { name: 'Uno' } })
    expect(await list()).toMatchObject({ queries: 1, value: [{ name: 'Uno' }, { name: 'Two' }] })
    expect(await count()).toMatchObject({ queries: 1, value: 1 })
  })

  test('a write by a unique field evicts the row read by primary key, found from the returned record', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one, two } = await seedUsers(prisma)
    const userOne = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }))
    const userTwo = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: two.id } }))
    await prisma.user.update({ where: { email: 'one@x.test' }, data: { name: 'Uno' } })
    expect(await userOne()).toMatchObject({ queries: 1, value: { name: 'Uno' } })
    expect(await userTwo()).toMatchObject({ queries: 0 })

    await prisma.user.delete({ where: { email: 'two@x.test' } })
    expect(await userTwo()).toMatchObject({ queries: 1, value: null })
  })

  test('a bulk write evicts every row read of the model', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one, two } = await seedUsers(prisma)
    const userOne = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }))
    const userTwo = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: two.id } }))
    await prisma.user.updateMany({ where: { name: 'Two' }, data: { name: 'Dos' } })
    expect(await userOne()).toMatchObject({ queries: 1, value: { name: 'One' } })
    expect(await userTwo()).toMatchObject({ queries: 1, value: { name: 'Dos' } })
  })

  test('a create evicts a cached null of the row it creates', async () => {
    const { prisma, queries } = await fixture.cached()
    const missing = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: 1 } }))
    await prisma.user.create({ data: { email: 'one@x.test' } })
    expect(await missing()).toMatchObject({ queries: 1, value: { id: 1 } })
  })

  test('a write that changes a primary key evicts every row read', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one } = await seedUsers(prisma)
    const moved = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: 100 } }))
    await prisma.user.update({ where: { email: 'one@x.test' }, data: { id: 100 } })
    expect(await moved()).toMatchObject({ queries: 1, value: { email: 'one@x.test' } })
    expect(await prisma.user.findUnique({ where: { id: one.id } })).toBeNull()
  })
})

describe('relations', () => {
  test('a nested create through user.update evicts the cached user with its posts', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one, two } = await seedUsers(prisma)
    const withPosts = await cachedRead(queries, () =>
      prisma.user.findUnique({ where: { id: one.id }, include: { posts: true } }),
    )
    const other = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: two.id } }))
    await prisma.user.update({ where: { id: one.id }, data: { posts: { create: { title: 'nested' } } } })
    expect(await withPosts()).toMatchObject({ queries: 2, value: { posts: [{ title: 'nested' }] } })
    expect(await other()).toMatchObject({ queries: 0 })
  })

  test('a write to a related model evicts reads that include, count or filter by it', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one } = await seedUsers(prisma)
    const counted = await cachedRead(queries, () =>
      prisma.user.findUnique({ where: { id: one.id }, select: { _count: { select: { posts: true } } } }),
    )
    const filtered = await cachedRead(queries, () =>
      prisma.user.findMany({ where: { posts: { some: { title: 'hello' } } } }),
    )
    const ordered = await cachedRead(queries, () => prisma.user.findMany({ orderBy: { posts: { _count: 'desc' } } }))
    await prisma.post.create({ data: { title: 'hello', author: { connect: { id: one.id } } } })
    expect(await counted()).toMatchObject({ queries: 1, value: { _count: { posts: 1 } } })
    expect(await filtered()).toMatchObject({ queries: 1, value: [{ id: one.id }] })
    expect((await ordered()).queries).toBe(1)
  })

  test('deleting a user cascades: cached posts are evicted, and set-null profiles too', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one } = await seedUsers(prisma)
    const post = await prisma.post.create({ data: { title: 'p', authorId: one.id } })
    const profile = await prisma.profile.create({ data: { bio: 'b', userId: one.id } })
    const posts = await cachedRead(queries, () => prisma.post.findMany())
    const postById = await cachedRead(queries, () => prisma.post.findUnique({ where: { id: post.id } }))
    const profileById = await cachedRead(queries, () => prisma.profile.findUnique({ where: { id: profile.id } }))
    const tags = await cachedRead(queries, () => prisma.tag.findMany())

    await prisma.user.delete({ where: { id: one.id } })

    expect(await posts()).toMatchObject({ queries: 1, value: [] })
    expect(await postById()).toMatchObject({ queries: 1, value: null })
    expect(await profileById()).toMatchObject({ queries: 1, value: { userId: null } })
    // Nothing links Tag to User: it stays cached.
    expect(await tags()).toMatchObject({ queries: 0 })
  })

  test('a many-to-many connect evicts both sides', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one } = await seedUsers(prisma)
    const post = await prisma.post.create({ data: { title: 'p', authorId: one.id } })
    const tag = await prisma.tag.create({ data: { name: 'news' } })
    const postWithTags = await cachedRead(queries, () =>
      prisma.post.findUnique({ where: { id: post.id }, include: { tags: true } }),
    )
    const tagWithPosts = await cachedRead(queries, () =>
      prisma.tag.findUnique({ where: { id: tag.id }, include: { posts: true } }),
    )
    const tagsOfPosts = await cachedRead(queries, () => prisma.tag.findMany({ where: { posts: { some: {} } } }))

    await prisma.post.update({ where: { id: post.id }, data: { tags: { connect: { id: tag.id } } } })

    expect(await postWithTags()).toMatchObject({ queries: 2, value: { tags: [{ name: 'news' }] } })
    expect(await tagWithPosts()).toMatchObject({ queries: 2, value: { posts: [{ title: 'p' }] } })
    expect(await tagsOfPosts()).toMatchObject({ queries: 1, value: [{ name: 'news' }] })

    await prisma.tag.update({ where: { id: tag.id }, data: { posts: { disconnect: { id: post.id } } } })
    expect(await postWithTags()).toMatchObject({ queries: 2, value: { tags: [] } })
  })

  test('connecting a one-to-one from the side without the key evicts the other model', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one, two } = await seedUsers(prisma)
    const profile = await prisma.profile.create({ data: { bio: 'b', userId: one.id } })
    const profileById = await cachedRead(queries, () => prisma.profile.findUnique({ where: { id: profile.id } }))
    await prisma.user.update({ where: { id: two.id }, data: { profile: { connect: { id: profile.id } } } })
    expect(await profileById()).toMatchObject({ queries: 1, value: { userId: two.id } })
  })

  test('nested writes at depth evict every model they reach', async () => {
    const { prisma, queries } = await fixture.cached()
    const tags = await cachedRead(queries, () => prisma.tag.findMany())
    const profiles = await cachedRead(queries, () => prisma.profile.count())
    await prisma.user.create({
      data: {
        email: 'deep@x.test',
        profile: { create: { bio: 'b' } },
        posts: { create: [{ title: 'p', tags: { connectOrCreate: { where: { name: 't' }, create: { name: 't' } } } }] },
      },
    })
    expect(await tags()).toMatchObject({ queries: 1, value: [{ name: 't' }] })
    expect(await profiles()).toMatchObject({ queries: 1, value: 1 })
  })
})

describe('raw SQL', () => {
  test('$executeRaw evicts the models of the table it names, and keeps the others', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one } = await seedUsers(prisma)
    await prisma.tag.create({ data: { name: 'news' } })
    const users = await cachedRead(queries, () => prisma.user.findMany({ orderBy: { id: 'asc' } }))
    const userOne = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }))
    const tags = await cachedRead(queries, () => prisma.tag.findMany())
    await prisma.$queryRaw`SELECT count(*) FROM "User"`
    expect(await users()).toMatchObject({ queries: 0 })

    await prisma.$executeRaw`UPDATE "User" SET "name" = ${'raw'}`
    expect(await users()).toMatchObject({ queries: 1, value: [{ name: 'raw' }, { name: 'raw' }] })
    expect(await userOne()).toMatchObject({ queries: 1, value: { name: 'raw' } })
    expect(await tags()).toMatchObject({ queries: 0 })

    await prisma.$queryRawUnsafe('UPDATE "User" SET "name" = $1 RETURNING "id"', 'again')
    expect(await users()).toMatchObject({ queries: 1, value: [{ name: 'again' }, { name: 'again' }] })
    expect(await tags()).toMatchObject({ queries: 0 })
  })

  test('a raw delete evicts the models its cascades reach', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one } = await seedUsers(prisma)
    await prisma.post.create({ data: { title: 'p', authorId: one.id } })
    await prisma.tag.create({ data: { name: 'news' } })
    const posts = await cachedRead(queries, () => prisma.post.findMany())
    const tags = await cachedRead(queries, () => prisma.tag.findMany())
    await prisma.$executeRawUnsafe('DELETE FROM "User" WHERE "id" = $1', one.id)
    expect(await posts()).toMatchObject({ queries: 1, value: [] })
    expect(await tags()).toMatchObject({ queries: 0 })
  })

  test('a raw write to an implicit many-to-many join table evicts reads across the relation', async () => {
    const { prisma, queries } = await fixture.cached()
    const { one } = await seedUsers(prisma)
    const post = await prisma.post.create({ data: { title: 'p', authorId: one.id } })
    const tag = await prisma.tag.create({ data: { name: 'news' } })
    const postWithTags = await cachedRead(queries, () =>
      prisma.post.findUnique({ where: { id: post.id }, include: { tags: true } }),
    )
    const tagWithPosts = await cachedRead(queries, () =>
      prisma.tag.findUnique({ where: { id: tag.id }, include: { posts: true } }),
    )
    const postRow = await cachedRead(queries, () => prisma.post.findUnique({ where: { id: post.id } }))
    await prisma.$executeRaw`INSERT INTO "_PostToTag" ("A", "B") VALUES (${post.id}, ${tag.id})`
    expect(await postWithTags()).toMatchObject({ queries: 2, value: { tags: [{ name: 'news' }] } })
    expect(await tagWithPosts()).toMatchObject({ queries: 2, value: { posts: [{ title: 'p' }] } })
    // The post's own row did not change.
    expect(await postRow()).toMatchObject({ queries: 0 })
  })

  test('a statement it cannot read evicts everything', async () => {
    const { prisma, queries } = await fixture.cached()
    await prisma.tag.create({ data: { name: 'news' } })
    const tags = await cachedRead(queries, () => prisma.tag.findMany())
    await prisma.$executeRawUnsafe(`DO $$ BEGIN UPDATE "Tag" SET "name" = 'done'; END $$`)
    expect(await tags()).toMatchObject({ queries: 1, value: [{ name: 'done' }] })
    await prisma.$executeRawUnsafe(`WITH t AS (UPDATE "Tag" SET "name" = 'cte' RETURNING 1) SELECT count(*) FROM t`)
    expect(await tags()).toMatchObject({ queries: 1, value: [{ name: 'cte' }] })
  })
})

describe('$cache.queryRaw', () => {
  test('caches a raw read under its tags; a write to a tagged model evicts it, others do not', async () => {
    const { prisma, queries } = await fixture.cached()
    await seedUsers(prisma)
    const count = (name: string) =>
      prisma.$cache.queryRaw<{ n: bigint }[]>(Prisma.sql`SELECT count(*) AS n FROM "User" WHERE "email" <> ${name}`, {
        tags: ['User'],
        ttl: '1m',
      })
    const read = await cachedRead(queries, () => count('nobody'))
    expect(await read()).toMatchObject({ queries: 0, value: [{ n: 2n }] })
    // Bound values are part of the key.
    expect(await queries.during(async () => expect(await count('one@x.test')).toEqual([{ n: 1n }]))).toBe(1)

    await prisma.tag.create({ data: { name: 'news' } })
    expect(await read()).toMatchObject({ queries: 0 })
    await prisma.user.create({ data: { email: 'three@x.test' } })
    expect(await read()).toMatchObject({ queries: 1, value: [{ n: 3n }] })
    // And a raw write to the model too.
    await prisma.$executeRaw`DELETE FROM "User" WHERE "email" = ${'three@x.test'}`
    expect(await read()).toMatchObject({ queries: 1, value: [{ n: 2n }] })

    // $queryRaw itself is never cached.
    expect(await queries.during(() => prisma.$queryRaw`SELECT 1`)).toBe(1)
    expect(await queries.during(() => prisma.$queryRaw`SELECT 1`)).toBe(1)
  })

  test('custom tags are evicted by $cache.invalidate; writes and bad options are refused', async () => {
    const { prisma, queries } = await fixture.cached()
    const read = await cachedRead(queries, () =>
      prisma.$cache.queryRaw(Prisma.sql`SELECT 1 AS one`, { tags: ['report'] }),
    )
    // The same statement under other tags is an entry of its own.
    const other = await cachedRead(queries, () =>
      prisma.$cache.queryRaw(Prisma.sql`SELECT 1 AS one`, { tags: ['other', 'other'] }),
    )
    await prisma.$cache.invalidate({ tags: ['report'] })
    expect(await read()).toMatchObject({ queries: 1, value: [{ one: 1 }] })
    expect(await other()).toMatchObject({ queries: 0 })
    expect(await read()).toMatchObject({ queries: 0 })

    await expect(
      prisma.$cache.queryRaw(Prisma.sql`UPDATE "User" SET "name" = 'x' RETURNING "id"`, { tags: ['User'] }),
    ).rejects.toThrow(/SELECT/)
    // @ts-expect-error at least one tag
    await expect(prisma.$cache.queryRaw(Prisma.sql`SELECT 1`, { tags: [] })).rejects.toThrow(/`tags`/)
    // @ts-expect-error not a duration
    await expect(prisma.$cache.queryRaw(Prisma.sql`SELECT 1`, { tags: ['a'], ttl: 'soon' })).rejects.toThrow(/`ttl`/)
    expect(await queries.during(async () => {})).toBe(0)
  })
})

describe('failed writes', () => {
  test('a write that fails still returns its own error, unchanged', async () => {
    const { prisma: plain } = fixture.base()
    const { prisma } = await fixture.cached()
    await seedUsers(prisma)
    const expected = await plain.user.create({ data: { email: 'one@x.test' } }).catch((error: unknown) => error)
    const actual = await prisma.user.create({ data: { email: 'one@x.test' } }).catch((error: unknown) => error)
    expect(actual).toBeInstanceOf((expected as Error).constructor)
    expect(actual).toMatchObject({ code: 'P2002' })
  })
})
