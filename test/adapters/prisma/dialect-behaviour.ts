// The behaviour every database must show, as a suite each dialect's test file
// (sqlite, mariadb, postgres) runs on its own backend: hits that send no query,
// row-tag granularity, nested writes, cascades, transactions, raw SQL.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { parseSchema } from '../../../adapters/prisma/schema-parser.js'
import type { DialectBackend } from './backends.js'
import { type CachedRelationClient, useDialectFixture } from './dialect-fixture.js'
import { cachedRead, type QueryCounter } from './fixture.js'
import { Prisma } from './sqlite/generated/client.js'

class Rollback extends Error {}

const SQL_ACTIONS: Record<string, string> = { Cascade: 'CASCADE', SetNull: 'SET NULL', Restrict: 'RESTRICT' }

async function seedUsers(prisma: CachedRelationClient) {
  const one = await prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
  const two = await prisma.user.create({ data: { email: 'two@x.test', name: 'Two' } })
  return { one, two }
}

/** A post of user One and a tag, not linked yet, with cached reads of each including the other. */
async function unlinkedPostAndTag(prisma: CachedRelationClient, queries: QueryCounter) {
  const { one } = await seedUsers(prisma)
  const post = await prisma.post.create({ data: { title: 'p', authorId: one.id } })
  const tag = await prisma.tag.create({ data: { name: 'news' } })
  const postWithTags = await cachedRead(queries, () =>
    prisma.post.findUnique({ where: { id: post.id }, include: { tags: true } }),
  )
  const tagWithPosts = await cachedRead(queries, () =>
    prisma.tag.findUnique({ where: { id: tag.id }, include: { posts: true } }),
  )
  return { post, tag, postWithTags, tagWithPosts }
}

/** Call at file level: the suite on a database of `backend`'s own. */
export function describeBehaviour(label: string, backend: DialectBackend) {
  const fixture = useDialectFixture(label, backend)
  const { quote, parameter } = backend
  describe('schema.sql', () => {
    // Written by hand (no schema engine offline): this keeps it in step with schema.prisma.
    test("has a table per model with exactly its scalar fields, the join table, and the relations' actions", async () => {
      const { prisma } = fixture.base()
      const models = parseSchema(readFileSync(fixture.backend.schema, 'utf8'))
      const columns = await prisma.$queryRawUnsafe<{ t: string; c: string }[]>(fixture.backend.inspect.columns)
      const tables = new Map<string, string[]>()
      for (const { t, c } of columns) tables.set(t, [...(tables.get(t) ?? []), c])
      for (const model of models) {
        const scalars = model.fields.filter((field) => field.relation === undefined && !isRelation(field.type))
        expect(tables.get(model.name)?.sort(), model.name).toEqual(scalars.map((field) => field.name).sort())
      }
      expect(tables.get('_PostToTag')?.sort()).toEqual(['A', 'B'])

      const actions = await prisma.$queryRawUnsafe<{ t: string; d: string; u: string }[]>(
        fixture.backend.inspect.foreignKeys,
      )
      const expected = models.flatMap((model) =>
        model.fields
          .filter((field) => (field.relation?.fields.length ?? 0) > 0)
          .map((field) => ({
            t: model.name,
            d: SQL_ACTIONS[field.relation!.onDelete ?? (field.isOptional ? 'SetNull' : 'Restrict')],
            u: SQL_ACTIONS[field.relation!.onUpdate ?? 'Cascade'],
          })),
      )
      expected.push({ t: '_PostToTag', d: 'CASCADE', u: 'CASCADE' }, { t: '_PostToTag', d: 'CASCADE', u: 'CASCADE' })
      const order = (a: { t: string }, b: { t: string }) => a.t.localeCompare(b.t)
      expect(actions.map(({ t, d, u }) => ({ t, d, u })).sort(order)).toEqual(expected.sort(order))

      function isRelation(type: string): boolean {
        return models.some((model) => model.name === type)
      }
    })
  })

  describe('reads', () => {
    test('a second identical read is a hit, whatever the order of its keys', async () => {
      const { prisma, queries } = await fixture.cached()
      await prisma.user.create({ data: { email: 'a@x.test', name: 'A' } })

      const first = await queries.during(() => prisma.user.findMany({ where: { name: 'A' } }))
      const second = await queries.during(() => prisma.user.findMany({ where: { name: 'A' } }))
      expect(first).toBe(1)
      expect(second).toBe(0)
      expect(prisma.$cache.stats()).toMatchObject({ l1Hits: 1, loads: 1 })
      // The same query with its keys in another order is the same entry.
      expect(await queries.during(() => prisma.user.findMany({ where: { name: 'A' }, orderBy: { id: 'asc' } }))).toBe(1)
      expect(await queries.during(() => prisma.user.findMany({ orderBy: { id: 'asc' }, where: { name: 'A' } }))).toBe(0)
    })

    test('a second identical read is a hit and sends no query, for every read operation', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one } = await seedUsers(prisma)
      await prisma.post.create({ data: { title: 't', authorId: one.id } })
      const reads = [
        () => prisma.user.findUnique({ where: { id: one.id }, include: { posts: true } }),
        () => prisma.user.findUniqueOrThrow({ where: { email: 'one@x.test' } }),
        () => prisma.user.findFirst({ where: { name: 'One' } }),
        () => prisma.user.findFirstOrThrow({ where: { name: 'One' } }),
        () => prisma.user.findMany({ include: { posts: true } }),
        () => prisma.user.findMany({ orderBy: { id: 'asc' }, cache: { ttl: '1m' } }),
        () => prisma.user.count(),
        () => prisma.user.aggregate({ _max: { id: true } }),
        () => prisma.user.groupBy({ by: ['name'], _count: { _all: true }, orderBy: { name: 'asc' } }),
      ]
      for (const read of reads) {
        const loaded = await read()
        expect(await queries.during(async () => expect(await read()).toStrictEqual(loaded))).toBe(0)
      }
      expect(await queries.during(() => prisma.user.findMany({ cache: false }))).toBe(1)
    })

    test('the fluent API is cached and evicted by a write to the related model', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one } = await seedUsers(prisma)
      const posts = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }).posts())
      await prisma.post.create({ data: { title: 'p', authorId: one.id } })
      const after = await posts()
      expect(after.value).toMatchObject([{ title: 'p' }])
      expect(after.queries).toBeGreaterThan(0)
    })
  })

  describe('writes', () => {
    test("an update of user 1 keeps user 2's findUnique cached and evicts lists and counts; a bulk write evicts both", async () => {
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

      await prisma.user.updateMany({ where: { name: 'Two' }, data: { name: 'Dos' } })
      expect(await userOne()).toMatchObject({ queries: 1, value: { name: 'Uno' } })
      expect(await userTwo()).toMatchObject({ queries: 1, value: { name: 'Dos' } })
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

  describe('relations', () => {
    test('nested writes evict the models they reach, many-to-many links both sides', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one, two } = await seedUsers(prisma)
      const withPosts = await cachedRead(queries, () =>
        prisma.user.findUnique({ where: { id: one.id }, include: { posts: true } }),
      )
      const other = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: two.id } }))
      const tags = await cachedRead(queries, () => prisma.tag.findMany({ include: { posts: true } }))
      await prisma.user.update({
        where: { id: one.id },
        data: { posts: { create: { title: 'nested', tags: { create: { name: 'news' } } } } },
      })
      expect(await withPosts()).toMatchObject({ queries: 2, value: { posts: [{ title: 'nested' }] } })
      expect(await tags()).toMatchObject({ queries: 2, value: [{ name: 'news', posts: [{ title: 'nested' }] }] })
      expect(await other()).toMatchObject({ queries: 0 })

      const tag = await prisma.tag.findUniqueOrThrow({ where: { name: 'news' } })
      await prisma.tag.update({ where: { id: tag.id }, data: { posts: { set: [] } } })
      expect(await tags()).toMatchObject({ queries: 2, value: [{ name: 'news', posts: [] }] })
    })

    test('nested writes at depth evict every model they reach', async () => {
      const { prisma, queries } = await fixture.cached()
      const tags = await cachedRead(queries, () => prisma.tag.findMany())
      const profiles = await cachedRead(queries, () => prisma.profile.count())
      await prisma.user.create({
        data: {
          email: 'deep@x.test',
          profile: { create: { bio: 'b' } },
          posts: {
            create: [{ title: 'p', tags: { connectOrCreate: { where: { name: 't' }, create: { name: 't' } } } }],
          },
        },
      })
      expect(await tags()).toMatchObject({ queries: 1, value: [{ name: 't' }] })
      expect(await profiles()).toMatchObject({ queries: 1, value: 1 })
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

    test('a many-to-many connect evicts both sides', async () => {
      const { prisma, queries } = await fixture.cached()
      const { post, tag, postWithTags, tagWithPosts } = await unlinkedPostAndTag(prisma, queries)
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

    test('deleting a user cascades to its posts and sets its profile null; unrelated models stay cached', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one } = await seedUsers(prisma)
      const post = await prisma.post.create({ data: { title: 'p', authorId: one.id } })
      const profile = await prisma.profile.create({ data: { bio: 'b', userId: one.id } })
      await prisma.tag.create({ data: { name: 'news' } })
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
  })

  describe('raw SQL', () => {
    test('a raw delete evicts the models of the table it names and what its cascades reach', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one } = await seedUsers(prisma)
      await prisma.post.create({ data: { title: 'p', authorId: one.id } })
      await prisma.tag.create({ data: { name: 'news' } })
      const posts = await cachedRead(queries, () => prisma.post.findMany())
      const tags = await cachedRead(queries, () => prisma.tag.findMany())
      await prisma.$executeRawUnsafe(`DELETE FROM ${quote('User')} WHERE ${quote('id')} = ${parameter(1)}`, one.id)
      expect(await posts()).toMatchObject({ queries: 1, value: [] })
      expect(await tags()).toMatchObject({ queries: 0 })
    })

    test('a raw write to an implicit many-to-many join table evicts reads across the relation', async () => {
      const { prisma, queries } = await fixture.cached()
      const { post, tag, postWithTags, tagWithPosts } = await unlinkedPostAndTag(prisma, queries)
      const postRow = await cachedRead(queries, () => prisma.post.findUnique({ where: { id: post.id } }))
      await prisma.$executeRawUnsafe(
        `INSERT INTO ${quote('_PostToTag')} (${quote('A')}, ${quote('B')}) VALUES (${parameter(1)}, ${parameter(2)})`,
        post.id,
        tag.id,
      )
      expect(await postWithTags()).toMatchObject({ queries: 2, value: { tags: [{ name: 'news' }] } })
      expect(await tagWithPosts()).toMatchObject({ queries: 2, value: { posts: [{ title: 'p' }] } })
      // The post's own row did not change.
      expect(await postRow()).toMatchObject({ queries: 0 })
    })
  })

  describe('$cache.queryRaw', () => {
    // A string: the dialects return integers as number or bigint.
    const REPORT = Prisma.sql`SELECT 'weekly' AS report`

    test('custom tags are evicted by $cache.invalidate; writes and bad options are refused', async () => {
      const { prisma, queries } = await fixture.cached()
      const read = await cachedRead(queries, () => prisma.$cache.queryRaw(REPORT, { tags: ['report'] }))
      // The same statement under other tags is an entry of its own.
      const other = await cachedRead(queries, () => prisma.$cache.queryRaw(REPORT, { tags: ['other', 'other'] }))
      await prisma.$cache.invalidate({ tags: ['report'] })
      expect(await read()).toMatchObject({ queries: 1, value: [{ report: 'weekly' }] })
      expect(await other()).toMatchObject({ queries: 0 })
      expect(await read()).toMatchObject({ queries: 0 })

      const write = Prisma.raw(`UPDATE ${quote('User')} SET ${quote('name')} = 'x'`)
      const refusals = queries.during(async () => {
        await expect(prisma.$cache.queryRaw(write, { tags: ['User'] })).rejects.toMatchObject({
          code: 'E_INVALID_USAGE',
          message: expect.stringMatching(/SELECT.*\$executeRaw/),
        })
        // @ts-expect-error at least one tag
        await expect(prisma.$cache.queryRaw(Prisma.sql`SELECT 1`, { tags: [] })).rejects.toThrow(/`tags`/)
        // @ts-expect-error not a duration
        await expect(prisma.$cache.queryRaw(Prisma.sql`SELECT 1`, { tags: ['a'], ttl: 'soon' })).rejects.toThrow(
          /`ttl`/,
        )
      })
      // Refused before anything reaches the database.
      expect(await refusals).toBe(0)
    })
  })

  describe('transactions', () => {
    test('an interactive transaction invalidates after its commit; reads inside go to the database', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one } = await seedUsers(prisma)
      const read = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }))
      await prisma.$transaction(async (tx) => {
        await tx.user.update({ where: { id: one.id }, data: { name: 'after' } })
        expect(await queries.during(() => tx.user.findUnique({ where: { id: one.id } }))).toBe(1)
        // Not committed: the cache still holds the committed row.
        expect(await read()).toMatchObject({ queries: 0, value: { name: 'One' } })
      })
      expect(await read()).toMatchObject({ queries: 1, value: { name: 'after' } })
    })

    test('a rolled-back transaction leaves the cache as it was', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one } = await seedUsers(prisma)
      const read = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }))
      const invalidations = prisma.$cache.stats().invalidations
      await expect(
        prisma.$transaction(async (tx) => {
          await tx.user.update({ where: { id: one.id }, data: { name: 'rolled back' } })
          await tx.post.create({ data: { title: 'p', authorId: one.id } })
          throw new Rollback()
        }),
      ).rejects.toThrow(Rollback)
      expect(prisma.$cache.stats().invalidations).toBe(invalidations)
      expect(await read()).toMatchObject({ queries: 0, value: { name: 'One' } })
      // And the database agrees.
      expect(await prisma.user.findUnique({ where: { id: one.id }, cache: false })).toMatchObject({ name: 'One' })
    })

    test('a batch transaction invalidates after commit, and nothing when it rolls back', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one, two } = await seedUsers(prisma)
      const read = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }))
      const other = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: two.id } }))
      const invalidations = prisma.$cache.stats().invalidations

      // The second write fails (duplicate email): the first one is rolled back with it.
      await expect(
        prisma.$transaction([
          prisma.user.update({ where: { id: one.id }, data: { name: 'rolled back' } }),
          prisma.user.update({ where: { id: two.id }, data: { email: 'one@x.test' } }),
        ]),
      ).rejects.toMatchObject({ code: 'P2002' })
      expect(prisma.$cache.stats().invalidations).toBe(invalidations)
      expect(await read()).toMatchObject({ queries: 0, value: { name: 'One' } })

      await prisma.$transaction([
        prisma.user.update({ where: { id: one.id }, data: { name: 'batch' } }),
        prisma.user.count(),
      ])
      expect(await read()).toMatchObject({ queries: 1, value: { name: 'batch' } })
      expect(await other()).toMatchObject({ queries: 0 })
    })

    test('raw SQL in a transaction invalidates its tables after commit, and nothing after rollback', async () => {
      const { prisma, queries } = await fixture.cached()
      const { one } = await seedUsers(prisma)
      const read = await cachedRead(queries, () => prisma.user.findUnique({ where: { id: one.id } }))
      const invalidations = prisma.$cache.stats().invalidations
      const rename = `UPDATE ${quote('User')} SET ${quote('name')} = ${parameter(1)}`
      await expect(
        prisma.$transaction(async (tx) => {
          await tx.$executeRawUnsafe(rename, 'rolled back')
          throw new Rollback()
        }),
      ).rejects.toThrow(Rollback)
      expect(prisma.$cache.stats().invalidations).toBe(invalidations)
      expect(await read()).toMatchObject({ queries: 0, value: { name: 'One' } })

      await prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(rename, 'raw')
        // Not committed: the cache still holds the committed row.
        expect(await read()).toMatchObject({ queries: 0, value: { name: 'One' } })
      })
      expect(await read()).toMatchObject({ queries: 1, value: { name: 'raw' } })
    })
  })
}
