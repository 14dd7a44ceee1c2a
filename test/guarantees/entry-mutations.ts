// Ways to damage or forge a real L2 entry (msgpack header + value bytes, see
// src/codec.ts), for fuzzing the read path with bytes planted under real keys.
import { crc32 } from 'node:zlib'
import { Decimal } from '@prisma/client/runtime/client'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { decodeEntry } from '../../src/codec.js'

const foreign = new Packr({ useRecords: false })

/** A value whose msgpack declares far more items or bytes than follow: decoders must not trust the length. */
const HUGE_LENGTH_PREFIXES = [
  [0xdd, 0xff, 0xff, 0xff, 0xff], // array32
  [0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61], // map32
  [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61], // str32
  [0xc6, 0xff, 0xff, 0xff, 0xff, 0x61], // bin32
  [0xc9, 0xff, 0xff, 0xff, 0xff, 0x2a], // ext32 of our Uint8Array type
  [0xc9, 0x7f, 0xff, 0xff, 0xff, 0x2b], // ext32 of Prisma's Decimal type
  [0xdc, 0xff, 0xff, 0x01], // array16
  [0x91, 0xdd, 0x7f, 0xff, 0xff, 0xff], // array32 nested in an array
].map((bytes) => Buffer.from(bytes))

/** msgpack maps carrying a `__proto__` key, in each string encoding msgpack allows for it. */
function protoKeyMaps(): Buffer[] {
  const key = Buffer.from('__proto__')
  const headers = [[0xa9], [0xd9, 9], [0xda, 0, 9], [0xdb, 0, 0, 0, 9]].map((bytes) => Buffer.from(bytes))
  const polluted = Buffer.concat([Buffer.from([0x81, 0xa8]), Buffer.from('polluted'), Buffer.from([0xc3])])
  const direct = headers.map((header) => Buffer.concat([Buffer.from([0x81]), header, key, polluted]))
  // Nested one level down, the way a row with a Json column would hold it.
  const nested = direct.map((map) =>
    Buffer.concat([Buffer.from([0x82, 0xa2]), Buffer.from('id'), Buffer.from([0x01, 0xa4]), Buffer.from('json'), map]),
  )
  return [...direct, ...nested, foreign.pack(JSON.parse('[{"__proto__":{"isAdmin":true}}]'))]
}

/** Values a plain msgpack encoder makes that look like rows but come from no loader. */
const FORGED_VALUES = [...HUGE_LENGTH_PREFIXES, ...protoKeyMaps()]

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'header'; edit: HeaderEdit }
  | { kind: 'value'; forged: number }
  | { kind: 'random'; bytes: Uint8Array }

type HeaderEdit =
  | 'format'
  | 'tags-added'
  | 'tags-dropped'
  | 'versions-changed'
  | 'versions-length'
  | 'expired'
  | 'load-time-huge'
  | 'expires-not-a-number'
  | 'tags-not-strings'
  | 'extra-field'
  | 'checksum-wrong'
  | 'proto-in-header'

const HEADER_EDITS: readonly HeaderEdit[] = [
  'format',
  'tags-added',
  'tags-dropped',
  'versions-changed',
  'versions-length',
  'expired',
  'load-time-huge',
  'expires-not-a-number',
  'tags-not-strings',
  'extra-field',
  'checksum-wrong',
  'proto-in-header',
]

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('header' as const), edit: fc.constantFrom(...HEADER_EDITS) }),
  fc.record({ kind: fc.constant('value' as const), forged: fc.nat({ max: FORGED_VALUES.length - 1 }) }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 120 }) }),
)

/** Every forged value and header edit once, so each is tried whatever the random draw. */
export const EVERY_FORGERY: readonly Mutation[] = [
  ...HEADER_EDITS.map((edit) => ({ kind: 'header' as const, edit })),
  ...FORGED_VALUES.map((_, forged) => ({ kind: 'value' as const, forged })),
]

/** A header array in the entry format's field order, re-encoded with a checksum of `value` unless the edit spoils it. */
function withHeader(fields: unknown[], value: Uint8Array): Buffer {
  return Buffer.concat([foreign.pack(fields), value])
}

/** Applies `change` to a valid entry; header and value edits keep the checksum valid, so only the check they target can refuse them. */
export function mutate(entry: Buffer, change: Mutation): Buffer {
  switch (change.kind) {
    case 'flip': {
      const copy = Buffer.from(entry)
      const at = change.at % copy.length
      copy[at] = copy[at]! ^ (1 << change.bit)
      return copy
    }
    case 'truncate':
      return entry.subarray(0, change.at % entry.length)
    case 'random':
      return Buffer.from(change.bytes)
    case 'value': {
      const forged = FORGED_VALUES[change.forged]!
      const { header } = decodeEntry(entry)!
      return withHeader([1, header.tags, header.versions, header.expiresAt, header.loadMs, crc32(forged)], forged)
    }
    case 'header':
      return editHeader(entry, change.edit)
  }
}

function editHeader(entry: Buffer, edit: HeaderEdit): Buffer {
  const { header, valueBytes } = decodeEntry(entry)!
  const { tags, versions, expiresAt, loadMs } = header
  const checksum = crc32(valueBytes)
  const fields = ((): unknown[] => {
    switch (edit) {
      case 'format':
        return [2, tags, versions, expiresAt, loadMs, checksum]
      case 'tags-added':
        return [1, [...tags, 'Other'], [...versions, versions[0] ?? 'v'], expiresAt, loadMs, checksum]
      case 'tags-dropped':
        return [1, tags.slice(1), versions.slice(1), expiresAt, loadMs, checksum]
      case 'versions-changed':
        return [1, tags, versions.map((version) => `${version}x`), expiresAt, loadMs, checksum]
      case 'versions-length':
        return [1, tags, [...versions, 'extra'], expiresAt, loadMs, checksum]
      case 'expired':
        return [1, tags, versions, Date.now() - 60_000, loadMs, checksum]
      case 'load-time-huge':
        return [1, tags, versions, expiresAt, 1e12, checksum]
      case 'expires-not-a-number':
        return [1, tags, versions, String(expiresAt), loadMs, checksum]
      case 'tags-not-strings':
        return [1, tags.map((_, index) => index), versions, expiresAt, loadMs, checksum]
      case 'extra-field':
        return [1, tags, versions, expiresAt, loadMs, checksum, 'more']
      case 'checksum-wrong':
        return [1, tags, versions, expiresAt, loadMs, (checksum + 1) >>> 0]
      case 'proto-in-header':
        return [1, tags, versions, JSON.parse('{"__proto__":{"polluted":true}}'), loadMs, checksum]
    }
  })()
  return withHeader(fields, valueBytes)
}

const OWN_PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).sort()

/** Object.prototype as the process started it: no property added, none set through a `__proto__` key. */
export function prototypeIntact(): boolean {
  const probe: Record<string, unknown> = {}
  return (
    probe.polluted === undefined &&
    probe.isAdmin === undefined &&
    Object.getOwnPropertyNames(Object.prototype).sort().join() === OWN_PROTOTYPE_NAMES.join()
  )
}

/** True when every object in `value` has the prototype of what was stored: plain object, array, binary, Date or Decimal. */
export function noForeignPrototype(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof Date) return true
  const prototype = Object.getPrototypeOf(value)
  if (Array.isArray(value)) return prototype === Array.prototype && value.every(noForeignPrototype)
  if (value instanceof Decimal) return prototype === Decimal.prototype
  if (prototype !== Object.prototype) return false
  return Object.values(value).every(noForeignPrototype)
}
