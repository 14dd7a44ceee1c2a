// Issue 8 §3.2: arguments no key can describe are refused (UnkeyableArgsError)
// or read past the cache, never served another query's entry; two queries that
// differ never share a key, whether hashed directly or by an adapter.
import { Decimal } from '@prisma/client/runtime/client'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { cacheOf } from '../../adapters/typeorm/index.js'
import { UnkeyableArgsError } from '../../src/errors.js'
import { canonicalize, hashArgs } from '../../src/keys.js'
import { usePrismaFixture } from '../adapters/prisma/fixture.js'
import { User } from '../adapters/typeorm/entities.js'
import { seedUsersAndPosts, useTypeormFixture } from '../adapters/typeorm/fixture.js'

class Money {
  readonly #cents: number
  constructor(cents: number) {
    this.#cents = cents
  }
  toJSON(): string {
    return `${this.#cents / 100}`
  }
}

function cyclic(): unknown {
  const where: Record<string, unknown> = { label: 'x' }
  where.AND = [where]
  return where
}

function deep(levels: number): unknown {
  let where: unknown = { label: 'x' }
  for (let level = 0; level < levels; level++) where = { AND: [where] }
  return where
}

const UNKEYABLE: [string, () => unknown][] = [
  ['a function', () => ({ where: { label: () => 'x' } })],
  ['a symbol', () => ({ where: { label: Symbol('x') } })],
  ['a cycle', () => ({ where: cyclic() })],
  ['a cycle through a Map', () => ({ where: new Map([['self', cyclic()]]) })],
  ['nesting past 1000 levels', () => ({ where: deep(5_000) })],
  ['an invalid Date', () => ({ where: { at: new Date('not a date') } })],
  ['a boxed symbol', () => ({ where: { label: Object(Symbol('x')) } })],
]

describe('arguments no key can describe', () => {
  test.each(UNKEYABLE)('%s is refused with UnkeyableArgsError', (_, args) => {
    expect(() => hashArgs(args())).toThrow(UnkeyableArgsError)
  })

  test('huge strings, BigInt, typed arrays and class instances are keyed without their raw value', () => {
    const values = [
      'x'.repeat(10_000_000),
      2n ** 200n,
      new Int32Array([1, 2]),
      new Float64Array([1, 2]),
      new Uint8Array([1, 2]),
      [1, 2],
      new Money(150),
      new Decimal('1.5'),
      '1.5',
      1.5,
    ]
    const keys = values.map((value) => hashArgs({ where: { value } }))
    for (const key of keys) expect(key).toMatch(/^[A-Za-z0-9_-]{27}$/)
    expect(new Set(keys).size).toBe(values.length)
  })
})

/** Values of one Sample column as Prisma accepts them, type-distinct on purpose. */
const leaf = {
  id: fc.oneof(
    fc.bigInt({ min: 1n, max: 5n }),
    fc.integer({ min: 1, max: 5 }),
    fc.record({ in: fc.array(fc.bigInt({ min: 1n, max: 5n }), { maxLength: 3 }) }),
  ),
  label: fc.oneof(
    fc.constantFrom('1', 'one', 'two', ''),
    fc.constant(null),
    fc.record({ startsWith: fc.constantFrom('o', 't', '1') }),
    fc.record({ not: fc.constantFrom('one', '1') }),
  ),
  amount: fc.oneof(
    fc.record({ gt: fc.constantFrom(1, 12.5) }),
    fc.record({ gt: fc.constantFrom('1', '12.5') }),
    fc.record({ gt: fc.constantFrom(new Decimal('1'), new Decimal('12.5')) }),
  ),
  at: fc.record({ gte: fc.date({ min: new Date(0), max: new Date(2e12), noInvalidDate: true }) }),
}

const sampleArgs = fc.record(
  {
    where: fc.record(leaf, { requiredKeys: [] }),
    take: fc.integer({ min: 1, max: 3 }),
    skip: fc.integer({ min: 0, max: 1 }),
    orderBy: fc.constantFrom({ id: 'asc' as const }, { id: 'desc' as const }, { label: 'asc' as const }),
  },
  { requiredKeys: ['where'] },
)

/** The same arguments with every object's keys in reverse order. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered)
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([key, item]) => [key, reordered(item)]),
  )
}

describe('Prisma reads', () => {
  const prisma = usePrismaFixture('guarantee_keying')

  test("unkeyable arguments are read past the cache, or as Prisma itself reads them; never from another query's entry", async () => {
    const { prisma: base } = prisma.base()
    await base.sample.create({
      data: { id: 1n, amount: '1', at: new Date(0), bytes: new Uint8Array(), json: {}, label: 'x' },
    })
    const { prisma: client } = await prisma.cached()
    // Entries a wrong key could land on: the unfiltered list and the list filtered as the arguments try to.
    await client.sample.findMany({})
    await client.sample.findMany({ where: { label: 'x' } })
    const settle = (read: () => PromiseLike<unknown>) =>
      Promise.resolve()
        .then(read)
        .then(
          (value) => ({ value }),
          (error: Error) => ({ error: error.constructor.name }),
        )
    for (const [what, args] of UNKEYABLE) {
      const expected = await settle(() => base.sample.findMany(args() as never))
      let origin: string | undefined
      const outcome = await settle(async () => {
        const { data, info } = await client.$cache.withInfo(() => client.sample.findMany(args() as never))
        origin = info.origin
        return data
      })
      // Prisma refuses most of these itself (a cycle overflows its own serializer); what it reads
      // instead (a Map or a boxed symbol it turns into `{}`) is keyed as what it reads.
      expect(outcome, what).toStrictEqual(expected)
      expect([undefined, 'bypass', 'database'], what).toContain(origin)
    }
  })

  test('distinct arguments, distinct keys; the same modulo key order, one key and a hit', async () => {
    const { prisma: base } = prisma.base()
    await base.sample.createMany({
      data: [1n, 2n, 3n].map((id) => ({
        id,
        amount: `${Number(id) * 6.25}`,
        at: new Date(Number(id) * 1e11),
        bytes: new Uint8Array([Number(id)]),
        json: { id: Number(id) },
        label: ['one', 'two', '1'][Number(id) - 1]!,
      })),
    })
    const { prisma: client, queries } = await prisma.cached()
    const keyOf = async (args: unknown) => {
      const { data, info } = await client.$cache.withInfo(() => client.sample.findMany(args as never))
      expect(data).toStrictEqual(await base.sample.findMany(args as never))
      return info
    }
    const seen = new Map<string, string>()
    let pairs = 0
    await fc.assert(
      fc.asyncProperty(sampleArgs, async (args) => {
        const first = await keyOf(args)
        const text = canonicalize(args)
        const before = seen.get(first.key!)
        // One key, one query: a key seen before must come from the same canonical arguments.
        if (before !== undefined) expect(before).toBe(text)
        seen.set(first.key!, text)
        pairs++
        const again = await queries.during(async () => {
          const second = await keyOf(reordered(args))
          expect(second.key).toBe(first.key)
          expect(second.origin).toBe('l1')
        })
        // The reference read of `keyOf` is on the base client; the cached one was a hit.
        expect(again).toBe(0)
      }),
      { numRuns: 60 },
    )
    expect(pairs).toBe(60)
    // Type-distinct values of one column: six spellings of "1", six keys, each with the database's answer.
    const spellings = [
      { id: 1 },
      { id: 1n },
      { amount: { gt: 1 } },
      { amount: { gt: '1' } },
      { amount: { gt: new Decimal('1') } },
      { label: '1' },
    ]
    const keys = await Promise.all(spellings.map(async (where) => (await keyOf({ where })).key))
    expect(new Set(keys).size).toBe(spellings.length)
  })
})

describe('hashArgs', () => {
  test('equal canonical text exactly when the arguments are equal', () => {
    const value = fc.oneof(
      fc.integer({ min: -2, max: 2 }),
      fc.bigInt({ min: -2n, max: 2n }),
      fc.constantFrom('1', '', 'a', '-0'),
      fc.constant(-0),
      fc.boolean(),
      fc.constant(null),
      fc.date({ min: new Date(0), max: new Date(3), noInvalidDate: true }),
      fc.integer({ min: 0, max: 2 }).map((n) => new Decimal(n)),
      fc.uint8Array({ maxLength: 2 }),
    )
    const args = fc.dictionary(
      fc.constantFrom('id', 'name', 'at'),
      fc.oneof(value, fc.array(value, { maxLength: 2 })),
      {
        maxKeys: 3,
        noNullPrototype: true,
      },
    )
    let collisions = 0
    fc.assert(
      fc.property(args, args, (a, b) => {
        const same = hashArgs(a) === hashArgs(b)
        if (same) collisions++
        // toStrictEqual tells 1 from 1n, 0 from -0 and a Decimal from a number.
        expect(same).toBe(isStrictlyEqual(a, b))
      }),
      { numRuns: 3_000 },
    )
    // Small domains: equal pairs come up, so both directions of the property are exercised.
    expect(collisions).toBeGreaterThan(0)
  })
})

function isStrictlyEqual(a: unknown, b: unknown): boolean {
  try {
    expect(a).toStrictEqual(b)
    return true
  } catch {
    return false
  }
}

describe('TypeORM parameters', () => {
  const typeorm = useTypeormFixture('guarantee_keying_typeorm')

  test('boxed numbers are told apart: two ids, two entries, two right answers', async () => {
    const { dataSource: plain } = typeorm.plain
    await seedUsersAndPosts(plain)
    const { dataSource, queries } = await typeorm.cached()
    const byId = (id: unknown) =>
      dataSource.getRepository(User).createQueryBuilder('u').where('u.id = :id', { id }).cache(true).getOne()
    expect((await byId(new Number(1)))?.email).toBe('a@x.test')
    expect((await byId(new Number(2)))?.email).toBe('b@x.test')
    expect(await queries.during(() => byId(new Number(1)))).toBe(0)
    expect(cacheOf(dataSource).stats().loads).toBe(2)
  })
})
