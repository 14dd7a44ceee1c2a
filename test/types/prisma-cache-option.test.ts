// Type tests for the per-query `cache` option of ormcache/prisma. They are
// checked by `tsc -p tsconfig.json --noEmit` (every `@ts-expect-error` must
// meet an error, every `expectTypeOf` must hold); at run time the checks are
// never called, so no database is needed.
import { describe, expectTypeOf, test } from 'vitest'
import { type CacheInfo, type CacheOrigin, prismaCache } from '../../adapters/prisma/index.js'
import { type Post, Prisma, type PrismaClient, type Profile, type User } from '../adapters/prisma/generated/client.js'

// The same client extended by ormcache and by an extension that changes no types:
// every result type of the first must equal the second's.
const cachedOf = (client: PrismaClient) => client.$extends(prismaCache())
const referenceOf = (client: PrismaClient) => client.$extends({ name: 'reference' })
type Cached = ReturnType<typeof cachedOf>
type Reference = ReturnType<typeof referenceOf>

function acceptsTheOption(prisma: Cached) {
  prisma.user.findMany({ where: { name: 'a' }, cache: { ttl: '1m', swr: '30s', tags: ['tenant:1'] } })
  prisma.user.findMany({ cache: false })
  // `true`: cached with the defaults, the opt-in of `queries: 'explicit'`.
  prisma.user.findMany({ cache: true })
  prisma.user.findUnique({ where: { id: 1 }, cache: true }).posts()
  prisma.user.count({ cache: true })
  prisma.user.findMany({ cache: {} })
  prisma.user.findUnique({ where: { id: 1 }, cache: { ttl: '5s' } })
  prisma.user.findUniqueOrThrow({ where: { email: 'a@x.test' }, cache: false })
  prisma.user.findFirst({ cache: { tags: [] } })
  prisma.user.findFirstOrThrow({ where: { id: 1 }, cache: { swr: '10s' } })
  prisma.user.count({ where: { name: null }, cache: { ttl: '1h' } })
  prisma.user.aggregate({ _max: { id: true }, cache: false })
  prisma.user.groupBy({ by: ['name'], _count: { _all: true }, cache: { ttl: '2d' } })
  // Every model, compound and BigInt keys included.
  prisma.sample.findUnique({ where: { id: 1n }, cache: { ttl: '1s' } })
  prisma.post.findMany({ include: { tags: true }, cache: false })
  // Reads without the option keep working, inside transactions too.
  prisma.user.findMany()
  prisma.user.count()
  prisma.$transaction(async (tx) => tx.user.findMany({ cache: false }))
}

function rejectsWrongShapes(prisma: Cached) {
  // @ts-expect-error ttl is a duration, not a boolean
  prisma.user.findMany({ cache: { ttl: true } })
  // @ts-expect-error `cache` is false or an object
  prisma.user.findMany({ cache: 'yes' })
  // @ts-expect-error `cache` is a boolean or an object, not a string
  prisma.user.findMany({ cache: 'true' })
  // @ts-expect-error nor a number
  prisma.user.findMany({ cache: 1 })
  // @ts-expect-error writes take no `cache: true` either
  prisma.user.create({ data: { email: 'a@x.test' }, cache: true })
  // @ts-expect-error unknown key in the option
  prisma.user.findMany({ cache: { stale: '1m' } })
  // @ts-expect-error a duration needs a known unit
  prisma.user.findMany({ cache: { ttl: '5 minutes' } })
  // @ts-expect-error tags are strings
  prisma.user.findMany({ cache: { tags: [1] } })
  // @ts-expect-error on a findUnique as well
  prisma.user.findUnique({ where: { id: 1 }, cache: { ttl: true } })
  // @ts-expect-error on a count as well
  prisma.user.count({ cache: 'no' })
  // @ts-expect-error on an aggregate as well
  prisma.user.aggregate({ _count: true, cache: 1 })
  // @ts-expect-error on a groupBy as well
  prisma.user.groupBy({ by: ['name'], cache: { ttl: null } })
  // @ts-expect-error an unknown top-level key is still rejected
  prisma.user.findMany({ cahce: false })
  // @ts-expect-error findUnique still needs its where
  prisma.user.findUnique({ cache: false })
  // @ts-expect-error where is still checked
  prisma.user.findMany({ where: { nope: 1 }, cache: false })
  // @ts-expect-error writes take no `cache`
  prisma.user.create({ data: { email: 'a@x.test' }, cache: false })
  // @ts-expect-error writes take no `cache`
  prisma.user.update({ where: { id: 1 }, data: { name: 'b' }, cache: { ttl: '1m' } })
  // @ts-expect-error writes take no `cache`
  prisma.user.upsert({ where: { id: 1 }, create: { email: 'a' }, update: {}, cache: false })
  // @ts-expect-error writes take no `cache`
  prisma.user.deleteMany({ cache: false })
  // @ts-expect-error writes take no `cache`
  prisma.user.createMany({ data: [], cache: false })
  // @ts-expect-error writes take no `cache`
  prisma.user.updateMany({ data: {}, cache: false })
  // @ts-expect-error writes take no `cache`
  prisma.user.delete({ where: { id: 1 }, cache: false })
}

function keepsPrismaResultTypes(prisma: Cached, reference: Reference) {
  const where = { where: { id: 1 } }
  expectTypeOf(prisma.user.findUnique({ ...where, cache: false })).resolves.toEqualTypeOf<User | null>()
  expectTypeOf(prisma.user.findUnique(where)).resolves.toEqualTypeOf<
    Awaited<ReturnType<typeof reference.user.findUnique<typeof where>>>
  >()
  expectTypeOf(prisma.user.findUniqueOrThrow(where)).resolves.toEqualTypeOf<User>()
  expectTypeOf(prisma.user.findFirst()).resolves.toEqualTypeOf<User | null>()
  expectTypeOf(prisma.user.findFirstOrThrow({ cache: false })).resolves.toEqualTypeOf<User>()
  expectTypeOf(prisma.user.findMany({ cache: { ttl: '1s' } })).resolves.toEqualTypeOf<User[]>()

  // select, include, _count and omit narrow the result as without the extension.
  const selected = prisma.user.findMany({ select: { id: true, posts: { select: { title: true } } }, cache: false })
  expectTypeOf(selected).resolves.toEqualTypeOf<{ id: number; posts: { title: string }[] }[]>()
  const included = prisma.post.findUniqueOrThrow({ where: { id: 1 }, include: { author: true, tags: true } })
  expectTypeOf(included).resolves.toEqualTypeOf<Prisma.PostGetPayload<{ include: { author: true; tags: true } }>>()
  expectTypeOf(
    prisma.user.findFirst({ select: { _count: { select: { posts: true } } }, cache: { ttl: '1m' } }),
  ).resolves.toEqualTypeOf<{ _count: { posts: number } } | null>()
  expectTypeOf(prisma.user.findMany({ omit: { name: true } })).resolves.toEqualTypeOf<Omit<User, 'name'>[]>()
  expectTypeOf(prisma.user.findMany({ include: { profile: true }, cache: false })).resolves.toEqualTypeOf<
    (User & { profile: Profile | null })[]
  >()

  // Aggregates.
  expectTypeOf(prisma.user.count({ cache: false })).resolves.toEqualTypeOf<number>()
  expectTypeOf(prisma.user.count({ select: { _all: true, name: true } })).resolves.toEqualTypeOf<{
    _all: number
    name: number
  }>()
  const aggregate = prisma.user.aggregate({ _max: { id: true }, cache: false })
  expectTypeOf(aggregate).resolves.toEqualTypeOf<{ _max: { id: number | null } }>()
  const grouped = prisma.user.groupBy({ by: ['name'], _count: { _all: true } })
  expectTypeOf(grouped).resolves.toEqualTypeOf<
    Awaited<ReturnType<typeof reference.user.groupBy<{ by: ['name']; _count: { _all: true } }>>>
  >()
}

function keepsTheFluentApi(prisma: Cached, reference: Reference) {
  const fluentPosts = prisma.user.findUnique({ where: { id: 1 }, cache: false }).posts()
  expectTypeOf(fluentPosts).resolves.toEqualTypeOf<Post[] | null>()
  expectTypeOf(fluentPosts).resolves.toEqualTypeOf<
    Awaited<ReturnType<ReturnType<typeof reference.user.findUnique<{ where: { id: 1 } }>>['posts']>>
  >()
  // Arguments of the relation, narrowed.
  const titles = prisma.user.findUniqueOrThrow({ where: { id: 1 } }).posts({ select: { title: true } })
  expectTypeOf(titles).resolves.toEqualTypeOf<{ title: string }[]>()
  // Two levels, with the nullability Prisma carries along.
  expectTypeOf(prisma.post.findFirstOrThrow().author().profile()).resolves.toEqualTypeOf<Profile | null>()
  expectTypeOf(prisma.post.findFirst().author()).resolves.toEqualTypeOf<User | null>()
  expectTypeOf(prisma.profile.findFirstOrThrow().user()).resolves.toEqualTypeOf<User | null>()
  expectTypeOf(
    prisma.profile
      .findUniqueOrThrow({ where: { id: 1 } })
      .user()
      .posts(),
  ).resolves.toEqualTypeOf<Post[] | null>()
  // @ts-expect-error a relation the model does not have
  prisma.user.findUnique({ where: { id: 1 } }).author()
  // @ts-expect-error the relation's arguments are checked
  prisma.user.findUnique({ where: { id: 1 } }).posts({ select: { nope: true } })
}

function keepsTransactionsAndClientMembers(prisma: Cached) {
  const batch = prisma.$transaction([prisma.user.findMany({ cache: false }), prisma.post.count()])
  expectTypeOf(batch).resolves.toEqualTypeOf<[User[], number]>()
  const interactive = prisma.$transaction(async (tx) => {
    const user = await tx.user.findUniqueOrThrow({ where: { id: 1 }, select: { email: true } })
    return user.email
  })
  expectTypeOf(interactive).resolves.toEqualTypeOf<string>()
  expectTypeOf(prisma.$cache.invalidate)
    .parameter(0)
    .toEqualTypeOf<{ tags?: readonly string[]; tables?: readonly string[] }>()
  expectTypeOf(prisma.$disconnect()).toEqualTypeOf<Promise<void>>()
}

// `queries` is an option of the extension; the per-query option is the same either way.
const explicitOf = (client: PrismaClient) => client.$extends(prismaCache({ queries: 'explicit' }))

function typesTheQueriesOptionAndTheOrigin(prisma: Cached, client: PrismaClient) {
  const explicit = explicitOf(client)
  explicit.user.findMany({ cache: true })
  explicit.user.findFirst({ cache: { ttl: '1m' } })
  expectTypeOf(explicit.user.findMany({ cache: true })).resolves.toEqualTypeOf<User[]>()
  // @ts-expect-error `queries` is 'all' or 'explicit'
  prismaCache({ queries: 'opt-in' })
  // @ts-expect-error so is its deprecated alias `mode`
  prismaCache({ mode: 'opt-in' })
  // @ts-expect-error a misspelt option
  prismaCache({ qeuries: 'explicit' })

  // The result keeps its exact type, fluent API and select included; the info is typed.
  const found = prisma.$cache.withInfo(() => prisma.user.findMany({ select: { email: true }, cache: true }))
  expectTypeOf(found).resolves.toEqualTypeOf<{ readonly data: { email: string }[]; readonly info: CacheInfo }>()
  const fluent = prisma.$cache.withInfo(() => prisma.user.findUniqueOrThrow({ where: { id: 1 } }).posts())
  expectTypeOf(fluent).resolves.toHaveProperty('data').toEqualTypeOf<Post[]>()
  const raw = prisma.$cache.withInfo(() =>
    prisma.$cache.queryRaw<{ n: bigint }[]>(Prisma.sql`SELECT count(*) AS n FROM "User"`, { tags: ['User'] }),
  )
  expectTypeOf(raw).resolves.toHaveProperty('data').toEqualTypeOf<{ n: bigint }[]>()
  expectTypeOf<CacheInfo['origin']>().toEqualTypeOf<CacheOrigin>()
  expectTypeOf<CacheOrigin>().toEqualTypeOf<'l1' | 'l2' | 'stale' | 'database' | 'bypass'>()
  expectTypeOf<CacheInfo['key']>().toEqualTypeOf<string | undefined>()
  expectTypeOf<CacheInfo['ttl']>().toEqualTypeOf<number | undefined>()
  // @ts-expect-error a function making the read, not the read itself
  prisma.$cache.withInfo(prisma.user.findMany())
}

const shout = {
  result: {
    user: { shout: { needs: { email: true }, compute: (user: { email: string }) => user.email.toUpperCase() } },
  },
} as const

function keepsLaterExtensions(prisma: Cached, reference: Reference) {
  const outer = prisma.$extends(shout)
  const plain = reference.$extends(shout)
  const where = { where: { id: 1 } }
  expectTypeOf(outer.user.findMany({ ...where, cache: false })).resolves.toEqualTypeOf<
    Awaited<ReturnType<typeof plain.user.findMany<typeof where>>>
  >()
  const selected = outer.user.findFirstOrThrow({ select: { shout: true }, cache: { ttl: '1s' } })
  expectTypeOf(selected).resolves.toEqualTypeOf<{ shout: string }>()
  expectTypeOf(outer.$cache.stats()).toBeObject()
  // @ts-expect-error still checked after another extension
  outer.user.findMany({ cache: { ttl: true } })
}

function typesRawReads(prisma: Cached) {
  const counted = prisma.$cache.queryRaw<{ n: bigint }[]>(Prisma.sql`SELECT count(*) AS n FROM "User"`, {
    tags: ['User'],
    ttl: '1m',
  })
  expectTypeOf(counted).resolves.toEqualTypeOf<{ n: bigint }[]>()
  // @ts-expect-error at least one tag
  prisma.$cache.queryRaw(Prisma.sql`SELECT 1`, { tags: [] })
  // @ts-expect-error tags are required
  prisma.$cache.queryRaw(Prisma.sql`SELECT 1`, { ttl: '1m' })
  // @ts-expect-error a Prisma.sql query, not a string
  prisma.$cache.queryRaw('SELECT 1', { tags: ['User'] })
  // Raw queries keep Prisma's own types.
  expectTypeOf(prisma.$queryRaw<{ one: number }[]>`SELECT 1 AS one`).resolves.toEqualTypeOf<{ one: number }[]>()
  expectTypeOf(prisma.$executeRaw`DELETE FROM "User"`).resolves.toEqualTypeOf<number>()
}

describe('the cache option of ormcache/prisma', () => {
  test('is checked by tsc (see the functions of this file)', () => {
    expectTypeOf(acceptsTheOption).toBeFunction()
    expectTypeOf(rejectsWrongShapes).toBeFunction()
    expectTypeOf(keepsPrismaResultTypes).toBeFunction()
    expectTypeOf(keepsTheFluentApi).toBeFunction()
    expectTypeOf(keepsTransactionsAndClientMembers).toBeFunction()
    expectTypeOf(typesRawReads).toBeFunction()
    expectTypeOf(keepsLaterExtensions).toBeFunction()
    expectTypeOf(typesTheQueriesOptionAndTheOrigin).toBeFunction()
  })
})
