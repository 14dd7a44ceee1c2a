// Writes on PostgreSQL that the behaviour suite every database runs
// (dialect-behaviour.ts) cannot express: tagged-template raw SQL in its quoting,
// statements the raw SQL reader cannot follow (DO blocks, data-modifying CTEs),
// UPDATE ... RETURNING through $queryRaw, and count(*) as bigint.
import { describe, expect, test } from 'vitest'
import { type CachedClient, cachedRead, usePrismaFixture } from './fixture.js'
import { Prisma } from './generated/client.js'

const fixture = usePrismaFixture('prisma-writes')

async function seedUsers(prisma: CachedClient) {
  const one = await prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
  const two = await prisma.user.create({ data: { email: 'two@x.test', name: 'Two' } })
  return { one, two }
}

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
})
