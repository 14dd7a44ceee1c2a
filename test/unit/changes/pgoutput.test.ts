// The pgoutput decoder on messages built byte by byte as PostgreSQL's protocol documents them
// (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html). The same
// decoder on a real server's stream is tested in test/integration/changes-postgres.test.ts.
import { describe, expect, test } from 'vitest'
import { PgoutputDecoder, postgresTimeToMs } from '../../../src/changes/pgoutput.js'
import { rowTag } from '../../../src/table-tags.js'

const INT4 = 23
const INT8 = 20
const TEXT = 25
const UUID = 2950
const NUMERIC = 1700
const TIMESTAMPTZ = 1184

interface ColumnSpec {
  name: string
  typeOid: number
  key?: boolean
}

/** `null` for a SQL null, `undefined` for an unchanged TOAST value. */
type Value = string | null | undefined

class Message {
  readonly #parts: Buffer[] = []
  byte(value: number | string) {
    this.#parts.push(Buffer.from([typeof value === 'string' ? value.charCodeAt(0) : value]))
    return this
  }
  int16(value: number) {
    const buffer = Buffer.alloc(2)
    buffer.writeInt16BE(value)
    this.#parts.push(buffer)
    return this
  }
  int32(value: number) {
    const buffer = Buffer.alloc(4)
    buffer.writeInt32BE(value)
    this.#parts.push(buffer)
    return this
  }
  int64(value: bigint) {
    const buffer = Buffer.alloc(8)
    buffer.writeBigUInt64BE(value)
    this.#parts.push(buffer)
    return this
  }
  string(value: string) {
    this.#parts.push(Buffer.from(value, 'utf8'), Buffer.from([0]))
    return this
  }
  tuple(values: readonly Value[]) {
    this.int16(values.length)
    for (const value of values) {
      if (value === null) this.byte('n')
      else if (value === undefined) this.byte('u')
      else {
        const bytes = Buffer.from(value, 'utf8')
        this.byte('t').int32(bytes.length)
        this.#parts.push(bytes)
      }
    }
    return this
  }
  build(): Buffer {
    return Buffer.concat(this.#parts)
  }
}

function relation(oid: number, table: string, columns: readonly ColumnSpec[], identity = 'd', schema = 'public') {
  const message = new Message().byte('R').int32(oid).string(schema).string(table).byte(identity).int16(columns.length)
  for (const column of columns)
    message
      .byte(column.key ? 1 : 0)
      .string(column.name)
      .int32(column.typeOid)
      .int32(-1)
  return message.build()
}

const insert = (oid: number, values: readonly Value[]) =>
  new Message().byte('I').int32(oid).byte('N').tuple(values).build()
const update = (oid: number, values: readonly Value[], old?: { kind: 'K' | 'O'; values: readonly Value[] }) => {
  const message = new Message().byte('U').int32(oid)
  if (old !== undefined) message.byte(old.kind).tuple(old.values)
  return message.byte('N').tuple(values).build()
}
const remove = (oid: number, kind: 'K' | 'O', values: readonly Value[]) =>
  new Message().byte('D').int32(oid).byte(kind).tuple(values).build()

const USERS: ColumnSpec[] = [
  { name: 'id', typeOid: INT4, key: true },
  { name: 'name', typeOid: TEXT },
]

function decoderWithUsers(primaryKeys = new Map<string, string[]>()) {
  const decoder = new PgoutputDecoder(primaryKeys)
  expect(decoder.decode(relation(16384, 'users', USERS))).toEqual([{ kind: 'none' }])
  return decoder
}

describe('rows by primary key', () => {
  test('an insert, an update and a delete name the row by its normalized key', () => {
    const decoder = decoderWithUsers()
    expect(decoder.decode(insert(16384, ['42', 'Ada']))).toEqual([{ kind: 'row', table: 'users', key: ['42'] }])
    expect(decoder.decode(update(16384, ['42', 'Grace']))).toEqual([{ kind: 'row', table: 'users', key: ['42'] }])
    expect(decoder.decode(remove(16384, 'K', ['42', null]))).toEqual([{ kind: 'row', table: 'users', key: ['42'] }])
  })

  test('an update that changes the key names the row before and after', () => {
    const decoder = decoderWithUsers()
    expect(decoder.decode(update(16384, ['43', 'Ada'], { kind: 'K', values: ['42', null] }))).toEqual([
      { kind: 'row', table: 'users', key: ['42'] },
      { kind: 'row', table: 'users', key: ['43'] },
    ])
  })

  test('a composite key is ordered by column name, whatever the table order, as the adapters order it', () => {
    const decoder = new PgoutputDecoder(new Map())
    const columns = [
      { name: 'zone', typeOid: TEXT, key: true },
      { name: 'payload', typeOid: TEXT },
      { name: 'account', typeOid: INT8, key: true },
    ]
    decoder.decode(relation(1, 'Shards', columns))
    const [change] = decoder.decode(insert(1, ['EU ', '{}', '0007']))
    // bigint text normalized as an integer, strings lower case without trailing spaces: as normalizeKey does.
    expect(change).toEqual({ kind: 'row', table: 'Shards', key: ['7', 'eu'] })
    expect(rowTag('Shards', ['7', 'eu'])).toBe(rowTag('shards', ['7', 'eu']))
  })

  test('with REPLICA IDENTITY FULL the key comes from the catalog, not from every column', () => {
    const decoder = new PgoutputDecoder(new Map([['public.users', ['id']]]))
    const everyColumn = USERS.map((column) => ({ ...column, key: true }))
    decoder.decode(relation(5, 'users', everyColumn, 'f'))
    expect(decoder.decode(remove(5, 'O', ['9', 'Ada']))).toEqual([{ kind: 'row', table: 'users', key: ['9'] }])
    expect(decoder.decode(update(5, ['9', 'Bea'], { kind: 'O', values: ['9', 'Ada'] }))).toEqual([
      { kind: 'row', table: 'users', key: ['9'] },
    ])
  })

  test('a uuid key and a citext key (announced by a type message) are strings', () => {
    const decoder = new PgoutputDecoder(new Map())
    decoder.decode(new Message().byte('Y').int32(90_001).string('public').string('citext').build())
    decoder.decode(
      relation(7, 'tokens', [
        { name: 'id', typeOid: UUID, key: true },
        { name: 'handle', typeOid: 90_001, key: true },
      ]),
    )
    expect(decoder.decode(insert(7, ['3F2504E0-4F89-11D3-9A0C-0305E82C3301', 'Ada']))).toEqual([
      { kind: 'row', table: 'tokens', key: ['ada', '3f2504e0-4f89-11d3-9a0c-0305e82c3301'] },
    ])
  })
})

describe('rows whose key cannot be told make the change cover their table', () => {
  test('a key of a type the ORMs normalize differently (numeric, timestamps)', () => {
    const decoder = new PgoutputDecoder(new Map())
    decoder.decode(relation(8, 'prices', [{ name: 'amount', typeOid: NUMERIC, key: true }]))
    decoder.decode(relation(9, 'events', [{ name: 'at', typeOid: TIMESTAMPTZ, key: true }]))
    expect(decoder.decode(insert(8, ['1.50']))).toEqual([{ kind: 'row', table: 'prices', key: undefined }])
    expect(decoder.decode(insert(9, ['2026-12-08 00:00:00+00']))).toEqual([
      { kind: 'row', table: 'events', key: undefined },
    ])
  })

  test('a table without a primary key, and one whose key column was not sent', () => {
    const decoder = new PgoutputDecoder(new Map())
    decoder.decode(relation(10, 'log', [{ name: 'line', typeOid: TEXT }], 'f'))
    expect(decoder.decode(insert(10, ['hello']))).toEqual([{ kind: 'row', table: 'log', key: undefined }])
    const users = decoderWithUsers()
    expect(users.decode(update(16384, [undefined, 'Ada']))).toEqual([{ kind: 'row', table: 'users', key: undefined }])
  })
})

describe('whole tables', () => {
  test('a truncate names every table it emptied', () => {
    const decoder = decoderWithUsers()
    decoder.decode(relation(11, 'posts', [{ name: 'id', typeOid: INT4, key: true }]))
    const truncate = new Message().byte('T').int32(2).byte(1).int32(16384).int32(11).build()
    expect(decoder.decode(truncate)).toEqual([{ kind: 'tables', tables: ['users', 'posts'] }])
  })

  test('a relation described again with other columns, or another name, was altered: its reads may have changed', () => {
    const decoder = decoderWithUsers()
    expect(decoder.decode(relation(16384, 'users', USERS))).toEqual([{ kind: 'none' }])
    expect(decoder.decode(relation(16384, 'users', [...USERS, { name: 'age', typeOid: INT4 }]))).toEqual([
      { kind: 'tables', tables: ['users'] },
    ])
    expect(decoder.decode(relation(16384, 'members', [...USERS, { name: 'age', typeOid: INT4 }]))).toEqual([
      { kind: 'tables', tables: ['users', 'members'] },
    ])
  })
})

describe('transactions and the rest of the protocol', () => {
  test('begin, commit with its end position and time, origin and logical messages', () => {
    const decoder = decoderWithUsers()
    const begin = new Message().byte('B').int64(0x1_6b3d08n).int64(0n).int32(731).build()
    expect(decoder.decode(begin)).toEqual([{ kind: 'begin' }])
    // PostgreSQL counts microseconds from 2000-01-01.
    const committedAt = Date.UTC(2026, 11, 8, 1, 2, 3)
    const committedUs = BigInt(committedAt - Date.UTC(2000, 0, 1)) * 1000n + 999n
    const commit = new Message().byte('C').byte(0).int64(0x1_6b3d08n).int64(0x1_6b3d40n).int64(committedUs).build()
    expect(decoder.decode(commit)).toEqual([{ kind: 'commit', endLsn: 0x1_6b3d40n, committedAt }])
    expect(postgresTimeToMs(committedUs)).toBe(committedAt)
    expect(decoder.decode(new Message().byte('O').int64(1n).string('other_node').build())).toEqual([{ kind: 'none' }])
    const logical = new Message().byte('M').byte(1).int64(1n).string('app').int32(2).byte(1).byte(2).build()
    expect(decoder.decode(logical)).toEqual([{ kind: 'none' }])
  })

  test('what the decoder cannot read fails loudly, never as a wrong key', () => {
    const decoder = decoderWithUsers()
    expect(() => decoder.decode(insert(999, ['1', 'x']))).toThrow(/never described/)
    expect(() => decoder.decode(Buffer.from('Z'))).toThrow(/unknown message type/)
    expect(() => decoder.decode(insert(16384, ['42', 'Ada']).subarray(0, 12))).toThrow(/shorter than its fields/)
  })
})
