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
  readonly rows?: (Record<string, unknown> | { before: Record<string, unknown>; after: Record<string, unknown> })[]
  /** Query events. */
  readonly query?: string
  readonly schema?: string
}

interface TableMapEntry {
  readonly parentSchema: string
  readonly tableName: string
  readonly columnSchemas: readonly { readonly COLUMN_NAME: string; readonly COLUMN_TYPE: string }[]
}

// Key columns whose values the ORMs normalize the same way: integers and character strings. A
// DECIMAL key arrives as text ('1.50') that would not match an ORM's 1.5; anything such covers
// its table instead.
const KEYABLE_COLUMN_TYPE = /^((tiny|small|medium|big)?int|integer|(var)?char|(tiny|medium|long)?text|uuid)\b/i

/** The tables' primary key columns, sorted as row tags order them, by table name lower case. */
type PrimaryKeys = ReadonlyMap<string, readonly string[]>

export class BinlogStream implements ChangeSession {
  readonly ended: Promise<Error | undefined>
  readonly #zongji: ZongJi
  readonly #sink: TransactionSink
  readonly #database: string
  readonly #primaryKeys: PrimaryKeys
  /** The rows of the transaction being read. */
  readonly #open = new TransactionTags()
  /** Committed and not invalidated yet: several commits that arrive while Redis is slow go as one. */
  #committed = new TransactionTags()
  #committedAt = 0
  #draining = false
  #stopping = false
  #resolveEnded!: (error: Error | undefined) => void

  private constructor(zongji: ZongJi, sink: TransactionSink, database: string, primaryKeys: PrimaryKeys) {
    this.#zongji = zongji
    this.#sink = sink
    this.#database = database
    this.#primaryKeys = primaryKeys
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve
    })
  }

  /** Checks the server, then follows its binlog from the end; resolves once it does. */
  static async start(target: ResolvedChanges, sink: TransactionSink): Promise<BinlogStream> {
    const [mysql, ZongJiClass] = await Promise.all([loadMysql(), loadZongJi()])
    const connection = connectionOptions(target.url)
    const primaryKeys = await prepare(mysql, connection)
    const database = String(connection.database)
    const zongji = new ZongJiClass(connection)
    const stream = new BinlogStream(zongji, sink, database, primaryKeys)
    await new Promise<void>((resolve, reject) => {
      zongji.on('ready', () => resolve())
      zongji.on('error', (error) => {
        reject(explain(error))
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
    for (const row of event.rows) {
      const images = 'before' in row && 'after' in row ? [row.before, row.after] : [row]
      for (const image of images) {
        const key = keyColumns === undefined ? undefined : keyOf(image as Record<string, unknown>, keyColumns)
        this.#open.add({ kind: 'row', table: table.tableName, key })
      }
    }
  }

  /** The table's primary key columns when each holds values the ORMs normalize alike; else undefined. */
  #keyColumns(table: TableMapEntry): readonly string[] | undefined {
    const columns = this.#primaryKeys.get(table.tableName.toLowerCase())
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

function keyOf(row: Record<string, unknown>, columns: readonly string[]): string[] | undefined {
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

/** Checks the server logs rows in its binlog, and reads the primary keys of the database's tables. */
async function prepare(mysql: MysqlModule, options: Record<string, unknown>): Promise<PrimaryKeys> {
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
    return primaryKeys
  } catch (error) {
    throw explain(error)
  } finally {
    await connection?.end().catch(() => undefined)
  }
}

async function loadMysql(): Promise<MysqlModule> {
  try {
    const module = (await import('mysql2/promise')) as unknown as MysqlModule & { default?: MysqlModule }
    return typeof module.createConnection === 'function' ? module : (module.default as MysqlModule)
  } catch (error) {
    throw new ChangeStreamError(
      'following a MySQL or MariaDB binlog needs the `mysql2` package: `npm install mysql2 @vlasky/zongji` (optional peer dependencies of ormcache)',
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
