// One MySQL or MariaDB binlog session, through @vlasky/zongji (a maintained fork of ZongJi on
// mysql2): checks the server logs rows, reads every table's primary key, then follows the binlog
// from its end and hands each committed transaction's rows to the consumer. There is nothing to
// confirm to the server, and nothing it keeps for this reader: a session that ends is simply gone,
// and the next one starts from the binlog's end again (the consumer invalidates everything then).
import { randomInt } from 'node:crypto'
import { ChangeStreamError } from '../errors.js'
import { compareColumnNames, normalizeKey } from '../table-tags.js'
import type { ResolvedChanges } from './options.js'
import type { ChangeSession, TransactionSink } from './session.js'
import { TransactionTags } from './transaction-tags.js'

/** The part of mysql2's promise API this module uses. */
interface MysqlConnection {
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>
  end(): Promise<void>
}

interface MysqlModule {
  createConnection(options: Record<string, unknown>): Promise<MysqlConnection>
}

/** The part of ZongJi this module uses, and of the events it emits. */
interface ZongJi {
  on(event: 'binlog', listener: (event: BinlogEvent) => void): unknown
  on(event: 'ready' | 'stopped', listener: () => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  start(options: Record<string, unknown>): void
  stop(): void
  readonly connection?: { readonly stream?: { unref?(): void; ref?(): void } } | null
  readonly ctrlConnection?: { readonly stream?: { unref?(): void; ref?(): void } } | null
}

type ZongJiConstructor = new (options: Record<string, unknown>) => ZongJi

interface BinlogEvent {
  getEventName(): string
  readonly timestamp: number
  /** Row events. */
  readonly tableId?: number
  readonly tableMap?: Record<number, TableMapEntry | undefined>
  /** A row's image for inserts and deletes; its images before and after for updates. */
  readonly rows?: readonly (Row | RowUpdate)[]
  /** Query events. */
  readonly query?: string
  readonly schema?: string
}

type Row = Readonly<Record<string, unknown>>
type RowUpdate = { readonly before: Row; readonly after: Row }

interface TableMapEntry {
  readonly parentSchema: string
  readonly tableName: string
  readonly columnSchemas: readonly { readonly COLUMN_NAME: string; readonly COLUMN_TYPE: string }[]
}

// Key columns whose values the ORMs normalize the same way: integers and character strings. A
// DECIMAL key arrives as text ('1.50') that would not match an ORM's 1.5; anything such covers
// its table instead.
const KEYABLE_COLUMN_TYPE = /^((tiny|small|medium|big)?int|integer|(var)?char|(tiny|medium|long)?text|uuid)\b/i

/** What the stream needs to know of the database's tables, by table name lower case. */
interface Schema {
  /** Primary key columns, sorted as row tags order them. */
  readonly primaryKeys: ReadonlyMap<string, readonly string[]>
  /** Foreign keys that change other tables' rows when a row of this one is deleted or its key updated. */
  readonly cascades: ReadonlyMap<string, readonly Cascade[]>
}

/**
 * A foreign key whose ON DELETE or ON UPDATE action (CASCADE, SET NULL, SET DEFAULT) changes the
 * referencing table. InnoDB runs those actions inside the storage engine, and the binlog logs
 * only the statement's own rows: the stream must infer the rest.
 */
interface Cascade {
  readonly child: string
  readonly onDelete: boolean
  readonly onUpdate: boolean
  /** The referenced columns: an update changes the child only when one of these changed. */
  readonly columns: readonly string[]
}

export class BinlogStream implements ChangeSession {
  readonly resumed = false
  readonly ended: Promise<Error | undefined>
  readonly #zongji: ZongJi
  readonly #sink: TransactionSink
  readonly #database: string
  readonly #schema: Schema
  /** The rows of the transaction being read. */
  readonly #open = new TransactionTags()
  /** Committed and not invalidated yet: several commits that arrive while Redis is slow go as one. */
  #committed = new TransactionTags()
  #committedAt = 0
  #draining = false
  #stopping = false
  #resolveEnded!: (error: Error | undefined) => void

  private constructor(zongji: ZongJi, sink: TransactionSink, database: string, schema: Schema) {
    this.#zongji = zongji
    this.#sink = sink
    this.#database = database
    this.#schema = schema
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve
    })
  }

  /** Checks the server, then follows its binlog from the end; resolves once it does. */
  static async start(target: ResolvedChanges, sink: TransactionSink): Promise<BinlogStream> {
    const [mysql, ZongJiClass] = await Promise.all([loadMysql(), loadZongJi()])
    const connection = connectionOptions(target.url)
    const schema = await prepare(mysql, connection)
    const database = String(connection.database)
    const zongji = new ZongJiClass(connection)
    const stream = new BinlogStream(zongji, sink, database, schema)
    await new Promise<void>((resolve, reject) => {
      zongji.on('ready', () => resolve())
      zongji.on('error', (error) => {
        reject(explain(error))
        // Its connections are of no more use: the consumer starts a new session.
        if (!stream.#stopping) zongji.stop()
        stream.#end(explain(error))
      })
      zongji.on('stopped', () =>
        stream.#end(stream.#stopping ? undefined : new ChangeStreamError('the binlog stream stopped')),
      )
      zongji.on('binlog', (event) => stream.#receive(event))
      zongji.start({
        // A replica id of its own: the server drops an older connection that shares one.
        serverId: randomInt(2 ** 31, 2 ** 32 - 1),
        startAtEnd: true,
        includeEvents: ['tablemap', 'writerows', 'updaterows', 'deleterows', 'xid', 'query'],
        includeSchema: { [database]: true },
      })
    }).catch(async (error: unknown) => {
      await stream.stop()
      throw error
    })
    // The cache never keeps a process alive: an app that is done exits with its stream open.
    zongji.connection?.stream?.unref?.()
    zongji.ctrlConnection?.stream?.unref?.()
    return stream
  }

  async stop(): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    // Held while it closes: the caller awaits this, and may have nothing else keeping the process up.
    this.#zongji.connection?.stream?.ref?.()
    this.#zongji.stop()
    this.#end(undefined)
  }

  #receive(event: BinlogEvent): void {
    switch (event.getEventName()) {
      case 'writerows':
      case 'deleterows':
      case 'updaterows':
        this.#rows(event)
        return
      case 'xid':
        this.#commit(event.timestamp)
        return
      case 'query':
        this.#query(event)
        return
    }
  }

  #rows(event: BinlogEvent): void {
    const table = event.tableId === undefined ? undefined : event.tableMap?.[event.tableId]
    if (table === undefined || event.rows === undefined) return
    const keyColumns = this.#keyColumns(table)
    const kind = event.getEventName()
    for (const row of event.rows) {
      // By the event, not the row's shape: a table may have columns named `before` and `after`.
      const images: Row[] = kind === 'updaterows' ? [(row as RowUpdate).before, (row as RowUpdate).after] : [row as Row]
      for (const image of images) {
        const key = keyColumns === undefined ? undefined : keyOf(image, keyColumns)
        this.#open.add({ kind: 'row', table: table.tableName, key })
      }
      if (kind !== 'writerows') this.#cascade(table.tableName, images)
    }
  }

  /** The tables a delete or a key update of a row of `table` may change through foreign-key actions, transitively. */
  #cascade(table: string, images: readonly Row[]): void {
    const [before, after] = images
    const reached = new Set<string>()
    const visit = (parent: string, deleted: boolean) => {
      for (const cascade of this.#schema.cascades.get(parent.toLowerCase()) ?? []) {
        const applies = deleted
          ? cascade.onDelete
          : cascade.onUpdate && cascade.columns.some((column) => !sameValue(before?.[column], after?.[column]))
        if (!applies || reached.has(cascade.child)) continue
        reached.add(cascade.child)
        // A cascaded delete deletes the child's rows; a cascaded update or SET NULL updates them.
        visit(cascade.child, deleted && cascade.onDelete)
      }
    }
    visit(table, after === undefined)
    if (reached.size > 0) this.#open.add({ kind: 'tables', tables: [...reached] })
  }

  /** The table's primary key columns when each holds values the ORMs normalize alike; else undefined. */
  #keyColumns(table: TableMapEntry): readonly string[] | undefined {
    const columns = this.#schema.primaryKeys.get(table.tableName.toLowerCase())
    const keyable = (name: string) =>
      table.columnSchemas.some((column) => column.COLUMN_NAME === name && KEYABLE_COLUMN_TYPE.test(column.COLUMN_TYPE))
    return columns?.every(keyable) ? columns : undefined
  }

  /**
   * Statements in a row-based binlog: the BEGIN and COMMIT of tables without transactions, and
   * what is not a row change (DDL, TRUNCATE), whose reach the cache cannot tell: everything.
   */
  #query(event: BinlogEvent): void {
    const statement = (event.query ?? '').trim().toUpperCase()
    if (statement === 'BEGIN') return
    if (statement === 'COMMIT') {
      this.#commit(event.timestamp)
      return
    }
    const inDatabase =
      (event.schema ?? '').toLowerCase() === this.#database.toLowerCase() ||
      statement.includes(this.#database.toUpperCase())
    if (!inDatabase) return
    this.#open.add({ kind: 'everything' })
    this.#commit(event.timestamp)
  }

  #commit(timestamp: number): void {
    if (this.#open.empty) return
    this.#committed.absorb(this.#open)
    this.#committedAt = timestamp
    this.#open.clear()
    if (!this.#draining) void this.#drain()
  }

  async #drain(): Promise<void> {
    this.#draining = true
    try {
      while (!this.#committed.empty && !this.#stopping) {
        const batch = this.#committed
        this.#committed = new TransactionTags()
        await this.#sink.commit(batch, this.#committedAt)
      }
    } catch (error) {
      this.#zongji.stop()
      this.#end(error instanceof Error ? error : new ChangeStreamError(String(error)))
    } finally {
      this.#draining = false
    }
  }

  #end(error: Error | undefined): void {
    this.#resolveEnded(error)
  }
}

function sameValue(left: unknown, right: unknown): boolean {
  if (left instanceof Uint8Array && right instanceof Uint8Array) return Buffer.from(left).equals(right)
  if (left instanceof Date && right instanceof Date) return left.getTime() === right.getTime()
  return left === right
}

function keyOf(row: Row, columns: readonly string[]): string[] | undefined {
  const key: string[] = []
  for (const column of columns) {
    const normalized = normalizeKey(row[column])
    if (normalized === undefined) return undefined
    key.push(normalized)
  }
  return key
}

function connectionOptions(url: string): Record<string, unknown> {
  const parsed = new URL(url)
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 3306),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.slice(1)),
  }
}

/** Checks the server logs rows in its binlog, and reads the database's primary and foreign keys. */
async function prepare(mysql: MysqlModule, options: Record<string, unknown>): Promise<Schema> {
  let connection: MysqlConnection | undefined
  try {
    connection = await mysql.createConnection(options)
    const [[server]] = (await connection.query('SELECT @@log_bin AS logBin, @@binlog_format AS format')) as [
      { logBin: number | string; format: string }[],
      unknown,
    ]
    if (Number(server?.logBin) !== 1) {
      throw new ChangeStreamError(
        'the server writes no binary log; change streams need it with row events: start it with log_bin and binlog_format = ROW ' +
          '(RDS and Aurora: backups on, binlog_format = ROW in the parameter group; Cloud SQL: point-in-time recovery on)',
      )
    }
    if (String(server?.format).toUpperCase() !== 'ROW') {
      throw new ChangeStreamError(
        `the binlog_format is ${String(server?.format)}: change streams need ROW, where every changed row is logged (SET GLOBAL binlog_format = 'ROW', and in the server's configuration)`,
      )
    }
    const [keys] = (await connection.query(
      `SELECT TABLE_NAME AS tableName, COLUMN_NAME AS columnName FROM information_schema.KEY_COLUMN_USAGE
       WHERE CONSTRAINT_NAME = 'PRIMARY' AND TABLE_SCHEMA = DATABASE()`,
    )) as [{ tableName: string; columnName: string }[], unknown]
    const primaryKeys = new Map<string, string[]>()
    for (const { tableName, columnName } of keys) {
      const table = tableName.toLowerCase()
      primaryKeys.set(table, [...(primaryKeys.get(table) ?? []), columnName])
    }
    for (const columns of primaryKeys.values()) columns.sort(compareColumnNames)
    return { primaryKeys, cascades: await readCascades(connection) }
  } catch (error) {
    throw explain(error)
  } finally {
    await connection?.end().catch(() => undefined)
  }
}

const CHANGING_ACTIONS = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT'])

async function readCascades(connection: MysqlConnection): Promise<Map<string, Cascade[]>> {
  const [rows] = (await connection.query(
    `SELECT r.CONSTRAINT_NAME AS name, r.TABLE_NAME AS child, r.REFERENCED_TABLE_NAME AS parent,
       r.DELETE_RULE AS onDelete, r.UPDATE_RULE AS onUpdate, k.REFERENCED_COLUMN_NAME AS referencedColumn
     FROM information_schema.REFERENTIAL_CONSTRAINTS r
     JOIN information_schema.KEY_COLUMN_USAGE k
       ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME AND k.TABLE_NAME = r.TABLE_NAME
     WHERE r.CONSTRAINT_SCHEMA = DATABASE()`,
  )) as [
    { name: string; child: string; parent: string; onDelete: string; onUpdate: string; referencedColumn: string }[],
    unknown,
  ]
  const byConstraint = new Map<string, { parent: string; cascade: Cascade & { columns: string[] } }>()
  for (const row of rows) {
    const onDelete = CHANGING_ACTIONS.has(row.onDelete.toUpperCase())
    const onUpdate = CHANGING_ACTIONS.has(row.onUpdate.toUpperCase())
    if (!onDelete && !onUpdate) continue
    const id = `${row.child}\u0000${row.name}`
    const found = byConstraint.get(id)
    if (found !== undefined) found.cascade.columns.push(row.referencedColumn)
    else {
      const cascade = { child: row.child, onDelete, onUpdate, columns: [row.referencedColumn] }
      byConstraint.set(id, { parent: row.parent.toLowerCase(), cascade })
    }
  }
  const cascades = new Map<string, Cascade[]>()
  for (const { parent, cascade } of byConstraint.values())
    cascades.set(parent, [...(cascades.get(parent) ?? []), cascade])
  return cascades
}

async function loadMysql(): Promise<MysqlModule> {
  try {
    const module = (await import('mysql2/promise')) as unknown as MysqlModule & { default?: MysqlModule }
    return typeof module.createConnection === 'function' ? module : (module.default as MysqlModule)
  } catch (error) {
    throw new ChangeStreamError(
      'following a MySQL or MariaDB binlog needs the `mysql2` package: `npm install @vlasky/zongji mysql2` (optional peer dependencies of ormcache)',
      { cause: error },
    )
  }
}

async function loadZongJi(): Promise<ZongJiConstructor> {
  try {
    const module = (await import('@vlasky/zongji')) as unknown as { default: ZongJiConstructor }
    return module.default
  } catch (error) {
    throw new ChangeStreamError(
      'following a MySQL or MariaDB binlog needs the `@vlasky/zongji` package: `npm install @vlasky/zongji mysql2` (optional peer dependencies of ormcache)',
      { cause: error },
    )
  }
}

/** The server's errors for a user that may not read the binlog, with the grant to make. */
function explain(error: unknown): Error {
  if (error instanceof ChangeStreamError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (/REPLICATION SLAVE|REPLICATION CLIENT|BINLOG MONITOR|REPLICA MONITOR|Access denied; you need/i.test(message)) {
    return new ChangeStreamError(
      'the database user may not read the binlog: `GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO <user>` (MariaDB 10.5+: REPLICATION SLAVE and BINLOG MONITOR)',
      { cause: error },
    )
  }
  return new ChangeStreamError(`binlog change stream: ${message}`, { cause: error })
}
