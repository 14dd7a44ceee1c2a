import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { UnkeyableArgsError } from '../../src/errors.js'
import { canonicalize, hashArgs } from '../../src/keys.js'

describe('hashArgs', () => {
  test('key order does not matter, values and types do', () => {
    expect(hashArgs({ where: { id: 1, name: 'a' }, take: 5 })).toBe(hashArgs({ take: 5, where: { name: 'a', id: 1 } }))
    const distinct = [1, '1', 1n, true, 'true', null, undefined, [1], { a: 1 }, new Date(1), 0, -0, Buffer.from('1')]
    const keys = new Set(distinct.map((value) => hashArgs({ value })))
    expect(keys.size).toBe(distinct.length)
  })

  test('a property set to undefined is the same query as one left out', () => {
    expect(hashArgs({ where: { id: 1, deleted: undefined } })).toBe(hashArgs({ where: { id: 1 } }))
  })

  test('array order matters', () => {
    expect(hashArgs({ orderBy: ['a', 'b'] })).not.toBe(hashArgs({ orderBy: ['b', 'a'] }))
  })

  test('class instances are keyed by class and JSON form', () => {
    class Decimalish {
      constructor(readonly text: string) {}
      toJSON() {
        return this.text
      }
    }
    expect(hashArgs({ price: new Decimalish('1.5') })).toBe(hashArgs({ price: new Decimalish('1.5') }))
    expect(hashArgs({ price: new Decimalish('1.5') })).not.toBe(hashArgs({ price: '1.5' }))
    class DbNull {}
    class JsonNull {}
    expect(hashArgs({ data: new DbNull() })).not.toBe(hashArgs({ data: new JsonNull() }))
  })

  test('raw values never appear in the key', () => {
    const key = hashArgs({ where: { email: 'alice@example.com', token: 'secret-token-123' } })
    expect(key).toMatch(/^[A-Za-z0-9_-]{27}$/)
    expect(key).not.toContain('alice')
  })

  test('functions, symbols and cycles are refused with a clear error', () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    expect(() => hashArgs({ where: () => 1 })).toThrow(UnkeyableArgsError)
    expect(() => hashArgs({ where: Symbol('x') })).toThrow(/symbol/)
    expect(() => hashArgs(cyclic)).toThrow(/cycle/)
    // The same object twice is not a cycle.
    const shared = { id: 1 }
    expect(() => hashArgs({ a: shared, b: shared })).not.toThrow()
  })

  test('cycles through a Map or Set, and nesting no ORM builds, are refused rather than overflowing the stack', () => {
    const map = new Map<string, unknown>()
    map.set('self', map)
    const set = new Set<unknown>()
    set.add({ in: set })
    let deep: unknown = 1
    for (let level = 0; level < 100_000; level++) deep = { AND: [deep] }
    expect(() => hashArgs({ where: map })).toThrow(/cycle/)
    expect(() => hashArgs({ where: set })).toThrow(/cycle/)
    expect(() => hashArgs(deep)).toThrow(UnkeyableArgsError)
  })

  test('values held in an internal slot are keyed by that value; an invalid Date is refused', () => {
    const pairs: [unknown, unknown][] = [
      [new Number(1), new Number(2)],
      [new Boolean(true), new Boolean(false)],
      [Object(1n), Object(2n)],
      [new String('a'), new String('b')],
      [/a/, /a/i],
      [new Number(1), 1],
    ]
    for (const [a, b] of pairs) expect(hashArgs({ value: a })).not.toBe(hashArgs({ value: b }))
    expect(hashArgs({ value: new Number(1) })).toBe(hashArgs({ value: new Number(1) }))
    expect(() => hashArgs({ at: new Date(Number.NaN) })).toThrow(/invalid Date/)
    expect(() => hashArgs({ value: Object(Symbol('x')) })).toThrow(/symbol/)
  })

  test('two different queries never share a canonical form', () => {
    const leaf = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double({ noNaN: true }),
      fc.bigInt(),
      fc.boolean(),
      fc.constant(null),
      fc.date({ noInvalidDate: true }),
    )
    const args = fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(leaf, fc.array(leaf, { maxLength: 3 })), {
      maxKeys: 4,
      noNullPrototype: true,
    })
    fc.assert(
      fc.property(args, args, (a, b) => {
        // Equal canonical text must mean structurally equal arguments.
        if (canonicalize(a) === canonicalize(b)) expect(a).toStrictEqual(b)
      }),
      { numRuns: 2_000 },
    )
    fc.assert(
      fc.property(args, (a) => {
        const reordered = Object.fromEntries(Object.entries(a).reverse())
        expect(hashArgs(reordered)).toBe(hashArgs(a))
      }),
    )
  })
})
