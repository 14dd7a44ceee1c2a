import { Decimal } from '@prisma/client/runtime/client'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, test } from 'vitest'
import { registerPrismaCodec } from '../../adapters/prisma/decimal.js'
import { decodeEntry, decodeValue, encodeEntry, encodeValue } from '../../src/codec.js'
import { ormResult, sameClassesDeep } from '../fixtures/values.js'

registerPrismaCodec()

describe('codec', () => {
  test('round-trips every type Prisma and TypeORM return, classes included', () => {
    fc.assert(
      fc.property(ormResult, (value) => {
        const decoded = decodeValue(encodeValue(value))
        expect(decoded).toStrictEqual(value)
        expect(sameClassesDeep(decoded, value)).toBeUndefined()
      }),
      { numRuns: 1_000 },
    )
  })

  test('edge values keep their exact type', () => {
    const value = {
      huge: 2n ** 200n,
      negative: -(2n ** 70n),
      small: 5n,
      safe: Number.MAX_SAFE_INTEGER,
      beyondSafe: 2 ** 60,
      decimal: new Decimal('123456789012345678901234567890.000000000000000000001'),
      bytes: new Uint8Array([0, 255]),
      buffer: Buffer.from([1]),
      invalidDate: new Date(Number.NaN),
      nothing: null,
      missing: undefined,
    }
    const decoded = decodeValue(encodeValue(value)) as typeof value
    expect(decoded).toStrictEqual(value)
    expect(decoded.bytes.constructor).toBe(Uint8Array)
    expect(Buffer.isBuffer(decoded.buffer)).toBe(true)
    expect(typeof decoded.beyondSafe).toBe('number')
    expect(Decimal.isDecimal(decoded.decimal)).toBe(true)
    expect(decoded.decimal.toFixed(21)).toBe('123456789012345678901234567890.000000000000000000001')
    expect('missing' in decoded).toBe(true)
    expect('absent' in decoded).toBe(false)
  })

  test('binaries keep their class whether the bytes are a Buffer or a plain Uint8Array (as L1 keeps them)', () => {
    const bytes = encodeValue({ buffer: Buffer.from([1, 2]), plain: new Uint8Array([3]) })
    for (const source of [bytes, new Uint8Array(bytes)]) {
      const decoded = decodeValue(source) as { buffer: Buffer; plain: Uint8Array }
      expect(Buffer.isBuffer(decoded.buffer)).toBe(true)
      expect(decoded.plain.constructor).toBe(Uint8Array)
    }
  })

  test('decoded binaries do not alias the cached bytes', () => {
    const bytes = encodeValue({ data: Buffer.from([1, 2, 3]), plain: new Uint8Array([4]) })
    const first = decodeValue(bytes) as { data: Buffer; plain: Uint8Array }
    first.data[0] = 99
    first.plain[0] = 99
    const second = decodeValue(bytes) as { data: Buffer; plain: Uint8Array }
    expect([...second.data]).toEqual([1, 2, 3])
    expect([...second.plain]).toEqual([4])
  })

  test('our extensions stay out of other msgpackr users in the process', () => {
    const theirs = new Packr({ useRecords: false })
    const decoded = theirs.unpack(theirs.pack({ bytes: new Uint8Array([1]), price: new Decimal('1.5') }))
    // Without the gate they would get our extension types; msgpackr's own behaviour is a Buffer and a toJSON string.
    expect(Buffer.isBuffer(decoded.bytes)).toBe(true)
    expect(decoded.price).toBe('1.5')
  })

  test('hostile msgpack cannot pollute prototypes', () => {
    const hostile = new Packr({ useRecords: false }).pack({ __proto__: { polluted: true }, constructor: { x: 1 } })
    const decoded = decodeValue(hostile) as Record<string, unknown>
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
  })

  test('a "__proto__" key in cached bytes is refused, not served renamed', () => {
    const key = Buffer.from('__proto__')
    for (const header of [[0xa9], [0xd9, 9], [0xda, 0, 9], [0xdb, 0, 0, 0, 9]]) {
      const map = Buffer.concat([Buffer.from([0x81]), Buffer.from(header), key, Buffer.from([0xc3])])
      expect(() => decodeValue(map)).toThrow(/__proto__/)
      expect(() => decodeValue(Buffer.concat([Buffer.from([0x91]), map]))).toThrow(/__proto__/)
    }
    // msgpackr's renamed form is an ordinary key when nothing was renamed; beside a
    // "__proto__" string it cannot be told from a rename, and is a miss, never a wrong value.
    expect(decodeValue(encodeValue({ __proto_: 1 }))).toEqual({ __proto_: 1 })
    expect(() => decodeValue(encodeValue({ __proto_: 1, name: '__proto__' }))).toThrow(/__proto__/)
  })

  test('values msgpack cannot carry exactly are refused at encode time', () => {
    expect(() => encodeValue(Symbol('x'))).toThrow()
    // JSON.parse makes an own "__proto__" property; decoding would rename it.
    expect(() => encodeValue({ json: JSON.parse('{"a":{"__proto__":false}}') })).toThrow(/__proto__/)
    expect(() => encodeValue({ text: 'a value that merely mentions __proto__ is fine' })).not.toThrow()
    expect(decodeValue(encodeValue({ name: '__proto__', list: ['__proto__'] }))).toEqual({
      name: '__proto__',
      list: ['__proto__'],
    })
  })
})

describe('entries', () => {
  const header = { tags: ['User', 'User:1'], versions: ['a.1', 'b.2'], expiresAt: 1_700_000_000_000, loadMs: 3 }

  test('header and value bytes come back apart', () => {
    const valueBytes = encodeValue({ id: 1 })
    const entry = decodeEntry(encodeEntry(header, valueBytes))
    expect(entry?.header).toEqual(header)
    expect(decodeValue(entry?.valueBytes ?? new Uint8Array())).toEqual({ id: 1 })
  })

  test('garbage, truncated and foreign bytes are not entries', () => {
    const whole = encodeEntry(header, encodeValue({ id: 1 }))
    const foreign = new Packr().pack({ some: 'other app' })
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const entry = decodeEntry(bytes)
        if (entry !== undefined) expect(entry.header.tags.length).toBe(entry.header.versions.length)
      }),
      { numRuns: 2_000 },
    )
    for (let length = 0; length < whole.length - encodeValue({ id: 1 }).length; length++) {
      expect(decodeEntry(whole.subarray(0, length))).toBeUndefined()
    }
    expect(decodeEntry(foreign)).toBeUndefined()
    expect(decodeEntry(Buffer.from('not msgpack at all'))).toBeUndefined()
  })
})
