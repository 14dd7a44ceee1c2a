import { crc32 } from 'node:zlib'
import { addExtension, Packr } from 'msgpackr'
import { InvalidOptionError } from './errors.js'

/**
 * A type the codec must round-trip exactly that msgpack has no native form for
 * (Prisma's `Decimal`, say). Adapters register these; the engine knows none of them.
 */
export interface CodecExtension<T> {
  /** msgpack extension type code, 1–127, unique among registered extensions. */
  readonly type: number
  /**
   * Duck-typed test rather than `instanceof`: two copies of a library in one
   * `node_modules` make two classes, and a value of either must be encoded.
   */
  is(value: unknown): value is T
  /** Turns the value into something msgpack encodes natively (a string, a byte array, an array…). */
  encode(value: T): unknown
  /** Rebuilds the value from what `encode` returned; throws on data it does not recognise. */
  decode(data: unknown): T
}

// msgpackr's extension table is global to its module. Gating every extension on
// this flag keeps ours out of any other msgpackr user's encoding in the process.
let encodingForOrmcache = false
const registered = new Map<number, CodecExtension<unknown>>()

export function registerCodecExtension<T>(extension: CodecExtension<T>): void {
  const existing = registered.get(extension.type)
  if (existing === extension) return
  if (existing) {
    throw new InvalidOptionError('extension.type', 'a type code no other codec extension uses', extension.type)
  }
  if (!Number.isInteger(extension.type) || extension.type < 1 || extension.type > 127) {
    throw new InvalidOptionError('extension.type', 'an integer from 1 to 127', extension.type)
  }
  registered.set(extension.type, extension as CodecExtension<unknown>)
  // A class whose `instanceof` answers the duck-typed test, only while we encode.
  // biome-ignore lint/complexity/noStaticOnlyClass: msgpackr finds extensions by `instanceof`, which only a class can answer
  const Class = class {
    static [Symbol.hasInstance](value: unknown): boolean {
      return encodingForOrmcache && extension.is(value)
    }
  }
  addExtension({
    Class,
    type: extension.type,
    write: (value: T) => extension.encode(value),
    read: (data: unknown) => extension.decode(data),
  })
}

/**
 * Prisma returns `Bytes` as a plain `Uint8Array`, TypeORM as a `Buffer`;
 * msgpack has one binary type and msgpackr decodes it as `Buffer`. Plain
 * `Uint8Array`s are tagged so each comes back as what was stored.
 */
const plainUint8Array: CodecExtension<Uint8Array> = {
  type: 0x2a,
  is: (value): value is Uint8Array => value instanceof Uint8Array && value.constructor === Uint8Array,
  encode: (value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  decode: (data) => {
    // An internal signal, like every throw of decoding: the cache catches it and counts a corrupt entry.
    if (!(data instanceof Uint8Array)) throw new TypeError('ormcache: corrupt Uint8Array extension')
    return new Uint8Array(data)
  },
}
registerCodecExtension(plainUint8Array)

const packr = new Packr({
  // Records: a row's keys written once per shape in each message, which halves
  // decode time for lists of rows (measured: 20 rows, 24 → 12 µs). No shared
  // structures: every message defines its own, so any process can read any entry.
  useRecords: true,
  copyBuffers: true, // decoded binaries must not alias the cached bytes a later hit decodes again
  useBigIntExtension: true, // BigInt beyond 64 bits, as Prisma and TypeORM return for bigint columns
  mapsAsObjects: true,
})

// msgpackr decodes a "__proto__" key as "__proto_", which keeps prototypes safe
// but would hand back a different object than was stored; JSON.parse makes such
// own properties, so a Json column can hold one. The string's msgpack form is a
// 9-byte fixstr: finding it in the bytes is cheap, and only then (the string may
// as well be a value) is the value walked for a real key.
const PROTO_KEY_BYTES = Buffer.concat([Buffer.from([0xa0 | 9]), Buffer.from('__proto__')])
// What msgpackr makes of a "__proto__" key when decoding, in whichever string form it was written.
const PROTO_TEXT = Buffer.from('__proto__')
const RENAMED_PROTO_KEY = '__proto_'

function hasOwnKey(value: unknown, key: string): boolean {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return false
  if (Object.hasOwn(value, key)) return true
  return Object.values(value).some((item) => hasOwnKey(item, key))
}

/**
 * Encodes a query result. Throws when the value holds something msgpack cannot
 * carry exactly (a symbol, a `__proto__` own property): such a value is served
 * but not cached.
 */
export function encodeValue(value: unknown): Buffer {
  let bytes: Buffer
  encodingForOrmcache = true
  try {
    bytes = packr.pack(value)
  } finally {
    encodingForOrmcache = false
  }
  if (bytes.includes(PROTO_KEY_BYTES) && hasOwnKey(value, '__proto__')) {
    // An internal signal: the cache catches it, counts the value `unencodable` and serves it uncached.
    throw new TypeError('ormcache: a "__proto__" key does not survive decoding')
  }
  return bytes
}

/**
 * Decodes bytes from `encodeValue`; each call returns a new, independent object graph.
 * Throws on bytes `encodeValue` cannot have made, a `__proto__` key among them.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  // msgpackr makes binaries of the input's class: from a plain Uint8Array (L1 keeps
  // its own copy as one) a Buffer column would come back as a Uint8Array.
  const source = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const value = packr.unpack(source)
  // A "__proto__" key comes back renamed "__proto_": a different value than the bytes
  // hold. encodeValue never writes one, so these bytes are foreign, and refused. A real
  // "__proto_" key beside a "__proto__" string is refused too: a miss, never a wrong value.
  if (source.includes(PROTO_TEXT) && hasOwnKey(value, RENAMED_PROTO_KEY)) {
    // An internal signal: the cache catches it, deletes the entry and counts it corrupt.
    throw new TypeError('ormcache: a "__proto__" key in cached bytes')
  }
  return value
}

/** What an L2 entry records beside the value, enough to validate it without decoding the value. */
export interface EntryHeader {
  /** The tags the entry depends on, in the order the caller gave them. */
  readonly tags: readonly string[]
  /** Each tag's version when the load began; the entry is valid only while they are current. */
  readonly versions: readonly string[]
  /** Epoch ms after which the entry is not served. */
  readonly expiresAt: number
  /** How long the load took, for early refresh of hot keys. */
  readonly loadMs: number
}

const ENTRY_FORMAT = 1

/**
 * An L2 entry: a msgpack header followed by the encoded value, so the value's
 * bytes can go to L1 unchanged. The header carries a CRC-32 of the value: a
 * damaged value can still parse as msgpack, and must be a miss rather than a
 * wrong answer.
 */
export function encodeEntry(header: EntryHeader, valueBytes: Uint8Array): Buffer {
  const head = packr.pack([
    ENTRY_FORMAT,
    header.tags,
    header.versions,
    header.expiresAt,
    header.loadMs,
    crc32(valueBytes),
  ])
  return Buffer.concat([head, valueBytes])
}

/**
 * Splits an L2 entry into its header and value bytes. Returns `undefined` for
 * anything that is not a well-formed entry of this format: foreign, truncated
 * or hostile bytes are a miss, never a throw.
 */
export function decodeEntry(bytes: Uint8Array): { header: EntryHeader; valueBytes: Uint8Array } | undefined {
  let head: unknown
  let end = 0
  try {
    packr.unpackMultiple(bytes, (value: unknown, _start?: number, stop?: number) => {
      head = value
      end = stop ?? 0
      return false
    })
  } catch {
    return undefined
  }
  if (!Array.isArray(head) || head.length !== 6 || head[0] !== ENTRY_FORMAT) return undefined
  const [, tags, versions, expiresAt, loadMs, checksum] = head as unknown[]
  if (!isStringArray(tags) || !isStringArray(versions) || tags.length !== versions.length) return undefined
  if (typeof expiresAt !== 'number' || typeof loadMs !== 'number') return undefined
  if (end <= 0 || end >= bytes.length) return undefined
  const valueBytes = bytes.subarray(end)
  if (checksum !== crc32(valueBytes)) return undefined
  return { header: { tags, versions, expiresAt, loadMs }, valueBytes }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}
