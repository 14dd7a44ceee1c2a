// Decodes PostgreSQL's logical replication stream (the `pgoutput` plugin, protocol version 1)
// down to what a cache needs: which rows of which tables a committed transaction changed, by
// primary key. Column values other than the key are skipped, never parsed.
// https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html

import { compareColumnNames, normalizeKey } from '../table-tags.js'
import type { TableChange } from './transaction-tags.js'

/** What one message of the stream means for the cache. */
export type StreamChange =
  | TableChange
  | { readonly kind: 'begin' }
  /** `endLsn`: the position to confirm once this transaction's invalidations are in Redis; `committedAt`: ms since 1970. */
  | { readonly kind: 'commit'; readonly endLsn: bigint; readonly committedAt: number }
  /** Nothing the cache needs (a type, an origin, a logical message). */
  | { readonly kind: 'none' }

/** The primary key columns of each table, from the catalog, for tables whose replica identity is not the key. */
export type PrimaryKeys = ReadonlyMap<string, readonly string[]>

interface Column {
  readonly name: string
  readonly typeOid: number
}

interface Relation {
  readonly table: string
  readonly columns: readonly Column[]
  /** Where each key column sits in a tuple, in the order of the sorted key column names; undefined when unknown. */
  readonly keyPositions: readonly number[] | undefined
  /** Whether every key value can be normalized as the adapters normalize theirs. */
  readonly keyTyped: boolean
}

// Key columns whose text form normalizes as the ORMs' values do: integers and strings. Anything
// else (numeric, dates, bytea) makes the row's key unknown, and the change then covers the table.
const INTEGER_TYPES = new Set([20, 21, 23, 26]) // int8, int2, int4, oid
const STRING_TYPES = new Set([25, 1043, 1042, 2950, 19]) // text, varchar, bpchar, uuid, name
const STRING_TYPE_NAMES = new Set(['citext'])

const NONE: StreamChange = { kind: 'none' }
const BEGIN: StreamChange = { kind: 'begin' }

/** One decoder per replication connection: it remembers the relations the stream described. */
export class PgoutputDecoder {
  readonly #relations = new Map<number, Relation>()
  readonly #stringTypeOids = new Set<number>()
  readonly #primaryKeys: PrimaryKeys

  /** `primaryKeys`: by `schema.table`, as the catalog lists them when the stream starts. */
  constructor(primaryKeys: PrimaryKeys) {
    this.#primaryKeys = primaryKeys
  }

  /** The changes one message carries: an update that changes a row's key yields both keys. */
  decode(message: Buffer): StreamChange[] {
    const reader = new Reader(message)
    const type = reader.byte()
    switch (type) {
      case 0x42: // B: begin
        return [BEGIN]
      case 0x43: {
        // C: commit
        reader.byte() // flags
        reader.lsn() // the commit's own position
        const endLsn = reader.lsn()
        return [{ kind: 'commit', endLsn, committedAt: postgresTimeToMs(reader.lsn()) }]
      }
      case 0x52: // R: relation
        return this.#relation(reader)
      case 0x59: // Y: type
        this.#type(reader)
        return [NONE]
      case 0x49: // I: insert
        return this.#insert(reader)
      case 0x55: // U: update
        return this.#update(reader)
      case 0x44: // D: delete
        return this.#delete(reader)
      case 0x54: // T: truncate
        return this.#truncate(reader)
      case 0x4f: // O: origin
      case 0x4d: // M: logical message
        return [NONE]
      default:
        throw new Error(`pgoutput: unknown message type 0x${type.toString(16)}`)
    }
  }

  #relation(reader: Reader): StreamChange[] {
    const oid = reader.int32()
    const schema = reader.string()
    const table = reader.string()
    const replicaIdentity = String.fromCharCode(reader.byte())
    const count = reader.int16()
    const columns: Column[] = []
    const flagged: string[] = []
    for (let index = 0; index < count; index++) {
      const flags = reader.byte()
      const name = reader.string()
      const typeOid = reader.int32()
      reader.int32() // type modifier
      columns.push({ name, typeOid })
      if (flags & 1) flagged.push(name)
    }
    // With the default replica identity the flagged columns are the primary key; otherwise they are
    // an index's or every column, and the key comes from the catalog.
    const keyColumns = replicaIdentity === 'd' ? flagged : this.#primaryKeys.get(`${schema}.${table}`)
    const keyPositions =
      keyColumns === undefined || keyColumns.length === 0
        ? undefined
        : [...keyColumns].sort(compareColumnNames).map((name) => columns.findIndex((column) => column.name === name))
    const relation: Relation = {
      table,
      columns,
      keyPositions: keyPositions?.includes(-1) ? undefined : keyPositions,
      keyTyped: keyPositions?.every((position) => this.#keyTypeKnown(columns[position]?.typeOid ?? 0)) ?? false,
    }
    const previous = this.#relations.get(oid)
    this.#relations.set(oid, relation)
    // Sent again after the table changed (altered, renamed): reads of it may have changed without
    // a row event, under its old name or its new one.
    if (previous === undefined || sameShape(previous, relation)) return [NONE]
    return [{ kind: 'tables', tables: previous.table === table ? [table] : [previous.table, table] }]
  }

  #type(reader: Reader): void {
    const oid = reader.int32()
    reader.string() // schema
    if (STRING_TYPE_NAMES.has(reader.string())) this.#stringTypeOids.add(oid)
  }

  #insert(reader: Reader): StreamChange[] {
    const relation = this.#relationOf(reader.int32())
    reader.byte() // N: the new tuple
    return [this.#row(relation, this.#tuple(reader, relation))]
  }

  #update(reader: Reader): StreamChange[] {
    const relation = this.#relationOf(reader.int32())
    const marker = reader.byte()
    if (marker === 0x4e) return [this.#row(relation, this.#tuple(reader, relation))]
    // K (the old key) or O (the old row): the key may have changed, and both rows are affected.
    const before = this.#row(relation, this.#tuple(reader, relation))
    reader.byte() // N
    const after = this.#row(relation, this.#tuple(reader, relation))
    return sameRow(before, after) ? [after] : [before, after]
  }

  #delete(reader: Reader): StreamChange[] {
    const relation = this.#relationOf(reader.int32())
    reader.byte() // K or O
    return [this.#row(relation, this.#tuple(reader, relation))]
  }

  #truncate(reader: Reader): StreamChange[] {
    const count = reader.int32()
    reader.byte() // options: cascade, restart identity
    const tables: string[] = []
    for (let index = 0; index < count; index++) tables.push(this.#relationOf(reader.int32()).table)
    return [{ kind: 'tables', tables }]
  }

  /** The key columns' values of a tuple, as text; `undefined` for a column not sent (unchanged TOAST, null). */
  #tuple(reader: Reader, relation: Relation): (string | undefined)[] {
    const count = reader.int16()
    const values: (string | undefined)[] = new Array(count)
    const wanted = relation.keyPositions
    for (let index = 0; index < count; index++) {
      const kind = reader.byte()
      if (kind === 0x74 || kind === 0x62) {
        // t: text, b: binary (not requested, but sized the same way)
        const length = reader.int32()
        values[index] = kind === 0x74 && wanted?.includes(index) ? reader.text(length) : reader.skip(length)
      }
      // n: null, u: unchanged TOAST value; neither carries bytes
    }
    return values
  }

  #row(relation: Relation, values: readonly (string | undefined)[]): StreamChange {
    const positions = relation.keyPositions
    if (positions === undefined || !relation.keyTyped) return { kind: 'row', table: relation.table, key: undefined }
    const key: string[] = []
    for (const position of positions) {
      const normalized = normalizeKey(values[position])
      if (normalized === undefined) return { kind: 'row', table: relation.table, key: undefined }
      key.push(normalized)
    }
    return { kind: 'row', table: relation.table, key }
  }

  #relationOf(oid: number): Relation {
    const relation = this.#relations.get(oid)
    // The server describes every relation before its first change on a connection: a change to an
    // undescribed one means the decoder and the stream disagree, and nothing it says can be mapped.
    if (relation === undefined)
      throw new Error(`pgoutput: a change to relation ${oid}, which the stream never described`)
    return relation
  }

  #keyTypeKnown(typeOid: number): boolean {
    return INTEGER_TYPES.has(typeOid) || STRING_TYPES.has(typeOid) || this.#stringTypeOids.has(typeOid)
  }
}

// Milliseconds between 1970-01-01 and 2000-01-01, PostgreSQL's epoch.
const POSTGRES_EPOCH_MS = 946_684_800_000

/** A protocol timestamp (µs since 2000-01-01) as ms since 1970. */
export function postgresTimeToMs(microseconds: bigint): number {
  return Number(microseconds / 1000n) + POSTGRES_EPOCH_MS
}

function sameShape(left: Relation, right: Relation): boolean {
  return (
    left.table === right.table &&
    left.columns.length === right.columns.length &&
    left.columns.every(
      (column, index) => column.name === right.columns[index]?.name && column.typeOid === right.columns[index]?.typeOid,
    )
  )
}

function sameRow(left: StreamChange, right: StreamChange): boolean {
  if (left.kind !== 'row' || right.kind !== 'row' || left.key === undefined || right.key === undefined) return false
  return left.key.length === right.key.length && left.key.every((value, index) => value === right.key?.[index])
}

/** Big-endian reads over one message, as the protocol writes it. */
class Reader {
  readonly #bytes: Buffer
  #offset = 0

  constructor(bytes: Buffer) {
    this.#bytes = bytes
  }

  byte(): number {
    return this.#bytes.readUInt8(this.#advance(1))
  }

  int16(): number {
    return this.#bytes.readInt16BE(this.#advance(2))
  }

  int32(): number {
    return this.#bytes.readInt32BE(this.#advance(4))
  }

  /** An unsigned 64-bit field: a WAL position, or a timestamp. */
  lsn(): bigint {
    return this.#bytes.readBigUInt64BE(this.#advance(8))
  }

  /** A NUL-terminated string. */
  string(): string {
    const end = this.#bytes.indexOf(0, this.#offset)
    if (end === -1) throw new RangeError('pgoutput: a string without its terminating NUL')
    const value = this.#bytes.toString('utf8', this.#offset, end)
    this.#offset = end + 1
    return value
  }

  text(length: number): string {
    const start = this.#advance(length)
    return this.#bytes.toString('utf8', start, start + length)
  }

  skip(length: number): undefined {
    this.#advance(length)
    return undefined
  }

  #advance(length: number): number {
    const start = this.#offset
    if (length < 0 || start + length > this.#bytes.length) {
      throw new RangeError('pgoutput: a message shorter than its fields')
    }
    this.#offset = start + length
    return start
  }
}
