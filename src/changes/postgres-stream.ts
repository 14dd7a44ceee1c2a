// One PostgreSQL logical replication session: checks the server can stream, keeps the
// publication's tables current, creates a temporary slot (which PostgreSQL drops with the
// connection, so no slot is ever left behind retaining WAL), and hands each committed transaction
// to the consumer, confirming its position only once the consumer says Redis has its invalidations.
import { randomBytes } from 'node:crypto'
import { ChangeStreamError } from '../errors.js'
import type { ResolvedChanges } from './options.js'
import { PgoutputDecoder, type PrimaryKeys } from './pgoutput.js'
import type { ChangeSession, TransactionSink } from './session.js'
import { TransactionTags } from './transaction-tags.js'

/** The part of `pg` this module uses, so its types stay out of ormcache's. */
interface PgClient {
  connect(): Promise<void>
  query(sql: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  end(): Promise<void>
  on(event: 'error', listener: (error: Error) => void): unknown
  readonly connection: {
    on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): unknown
    once(event: 'replicationStart', listener: () => void): unknown
    sendCopyFromChunk(chunk: Buffer): void
    readonly stream: { pause(): void; resume(): void; ref(): void; unref(): void }
  }
}

type PgClientConstructor = new (config: Record<string, unknown>) => PgClient

// Messages buffered beyond this pause the socket until the consumer catches up: a huge
// transaction streams at the pace Redis takes its invalidations, in bounded memory.
const HIGH_WATER = 1_000
const LOW_WATER = 100
/** How often the stream looks whether a position can be confirmed (invalidations that waited for Redis went through). */
const CONFIRM_CHECK_MS = 1_000
/** Longest time between two status messages, so the server knows the consumer lives. */
const STATUS_INTERVAL_MS = 10_000
// Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's epoch.
const POSTGRES_EPOCH_US = 946_684_800_000_000n

/** A stream that has started: `ended` settles when it stops, with the error that stopped it if any. */
export class PostgresStream implements ChangeSession {
  readonly ended: Promise<Error | undefined>
  #resumed = false
  readonly #client: PgClient
  readonly #sink: TransactionSink
  readonly #decoder: PgoutputDecoder
  readonly #transaction = new TransactionTags()
  readonly #queue: Buffer[] = []
  #draining = false
  #paused = false
  #received = 0n
  #confirmed = 0n
  /** The positions in the last status sent. */
  #sent = { received: 0n, confirmed: 0n }
  #sentAt = 0
  #statusTimer: NodeJS.Timeout | undefined
  #stopping = false
  #resolveEnded!: (error: Error | undefined) => void

  get resumed(): boolean {
    return this.#resumed
  }

  private constructor(client: PgClient, sink: TransactionSink, primaryKeys: PrimaryKeys) {
    this.#client = client
    this.#sink = sink
    this.#decoder = new PgoutputDecoder(primaryKeys)
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve
    })
  }

  /**
   * Connects, prepares the publication and a temporary slot, and resolves once the server streams:
   * from then on every transaction committed after the slot was made reaches `sink`.
   */
  static async start(settings: ResolvedChanges, sink: TransactionSink): Promise<PostgresStream> {
    const Client = await loadPg()
    const { primaryKeys, createSlot } = await prepare(Client, settings, sink)
    const client = new Client({
      connectionString: settings.url,
      replication: 'database',
      application_name: 'ormcache-changes',
    })
    const stream = new PostgresStream(client, sink, primaryKeys)
    client.on('error', (error) => {
      // What is left of the connection is of no use: the consumer starts a new session.
      client.end().catch(() => undefined)
      stream.#end(explain(error))
    })
    try {
      await client.connect()
      // The cache never keeps a process alive: an app that is done exits with its stream open.
      client.connection.stream.unref()
      const slot = settings.slot ?? `ormcache_${randomBytes(8).toString('hex')}`
      if (settings.slot === undefined) {
        await client.query(`CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT`)
      } else if (createSlot) {
        await client.query(`CREATE_REPLICATION_SLOT ${slot} LOGICAL pgoutput NOEXPORT_SNAPSHOT`)
      }
      // From 0/0 a slot streams from where it was last confirmed: a durable one that existed resumes.
      stream.#resumed = settings.slot !== undefined && !createSlot
      await stream.#startReplication(slot, settings.publication)
    } catch (error) {
      await client.end().catch(() => undefined)
      throw explain(error)
    }
    return stream
  }

  /** Ends the session; PostgreSQL drops the temporary slot with it. */
  async stop(): Promise<void> {
    this.#stopping = true
    clearInterval(this.#statusTimer)
    // Held while it closes: the caller awaits this, and may have nothing else keeping the process up.
    this.#client.connection.stream.ref()
    await this.#client.end().catch(() => undefined)
    this.#end(undefined)
  }

  #startReplication(slot: string, publication: string): Promise<void> {
    const { connection } = this.#client
    connection.on('copyData', ({ chunk }) => this.#receive(chunk))
    const started = new Promise<void>((resolve) => connection.once('replicationStart', resolve))
    const options = `proto_version '1', publication_names '${quoteIdentifier(publication).replaceAll("'", "''")}'`
    // Settles only when the stream ends: the server stops it, or the connection goes.
    const streaming = this.#client.query(`START_REPLICATION SLOT ${slot} LOGICAL 0/0 (${options})`)
    streaming.then(
      () => this.#end(this.#stopping ? undefined : new ChangeStreamError('PostgreSQL ended the replication stream')),
      (error: unknown) => this.#end(this.#stopping ? undefined : explain(error)),
    )
    this.#statusTimer = setInterval(() => this.#tick(), CONFIRM_CHECK_MS)
    this.#statusTimer.unref()
    const endedBeforeStart = streaming.then(() => {
      throw new ChangeStreamError('PostgreSQL ended the replication stream before it started')
    })
    endedBeforeStart.catch(() => undefined)
    return Promise.race([started, endedBeforeStart])
  }

  #receive(chunk: Buffer): void {
    this.#queue.push(chunk)
    if (this.#queue.length > HIGH_WATER && !this.#paused) {
      this.#paused = true
      this.#client.connection.stream.pause()
    }
    if (!this.#draining) void this.#drain()
  }

  async #drain(): Promise<void> {
    this.#draining = true
    try {
      for (let chunk = this.#queue.shift(); chunk !== undefined; chunk = this.#queue.shift()) {
        await this.#handle(chunk)
        if (this.#paused && this.#queue.length < LOW_WATER) {
          this.#paused = false
          this.#client.connection.stream.resume()
        }
      }
    } catch (error) {
      // A message that cannot be read leaves the stream's meaning unknown: end it, and the consumer
      // starts again with everything invalidated.
      await this.#client.end().catch(() => undefined)
      this.#end(error instanceof Error ? error : new ChangeStreamError(String(error)))
    } finally {
      this.#draining = false
    }
  }

  async #handle(chunk: Buffer): Promise<void> {
    const type = chunk[0]
    if (type === 0x6b) {
      // k: keepalive. Everything sent before it has been handled: an idle stream confirms up to
      // here, so its slot holds no WAL back.
      const serverEnd = chunk.readBigUInt64BE(1)
      if (this.#transaction.empty && this.#sink.settled() && serverEnd > this.#received) {
        this.#received = serverEnd
        this.#confirmed = serverEnd
      }
      if (chunk[17] === 1) this.#sendStatus()
      return
    }
    if (type !== 0x77) return
    // w: XLogData: start, end and send time, then one pgoutput message.
    const start = chunk.readBigUInt64BE(1)
    if (start > this.#received) this.#received = start
    for (const change of this.#decoder.decode(chunk.subarray(25))) {
      if (change.kind === 'commit') {
        await this.#commit(change.endLsn, change.committedAt)
      } else {
        this.#transaction.add(change)
      }
    }
  }

  async #commit(endLsn: bigint, committedAt: number): Promise<void> {
    if (!this.#transaction.empty) await this.#sink.commit(this.#transaction, committedAt)
    this.#transaction.clear()
    if (endLsn > this.#received) this.#received = endLsn
    if (this.#sink.settled()) this.#confirmed = this.#received
    // As PostgreSQL's own subscribers do: a status whenever a position moved, so the server frees WAL soon.
    if (this.#received !== this.#sent.received || this.#confirmed !== this.#sent.confirmed) this.#sendStatus()
  }

  /**
   * Invalidations kept for Redis while it was away go through on their own (the cache resends them):
   * once they have, and nothing is being handled, everything received is confirmed.
   */
  #tick(): void {
    if (this.#queue.length === 0 && !this.#draining && this.#transaction.empty && this.#sink.settled()) {
      this.#confirmed = this.#received
    }
    const moved = this.#received !== this.#sent.received || this.#confirmed !== this.#sent.confirmed
    if (moved || Date.now() - this.#sentAt >= STATUS_INTERVAL_MS) this.#sendStatus()
  }

  /** Standby status: received up to `#received`, flushed and applied up to what Redis holds. */
  #sendStatus(): void {
    if (this.#stopping) return
    const status = Buffer.alloc(34)
    status[0] = 0x72 // r
    status.writeBigUInt64BE(this.#received, 1)
    status.writeBigUInt64BE(this.#confirmed, 9)
    status.writeBigUInt64BE(this.#confirmed, 17)
    status.writeBigUInt64BE(BigInt(Date.now()) * 1000n - POSTGRES_EPOCH_US, 25)
    status[33] = 0 // no reply requested
    this.#client.connection.sendCopyFromChunk(status)
    this.#sent = { received: this.#received, confirmed: this.#confirmed }
    this.#sentAt = Date.now()
  }

  #end(error: Error | undefined): void {
    clearInterval(this.#statusTimer)
    this.#resolveEnded(error)
  }
}

async function loadPg(): Promise<PgClientConstructor> {
  try {
    const pg = (await import('pg')) as unknown as {
      Client?: PgClientConstructor
      default?: { Client?: PgClientConstructor }
    }
    const Client = pg.Client ?? pg.default?.Client
    if (Client === undefined) throw new Error('the pg module has no Client')
    return Client
  } catch (error) {
    throw new ChangeStreamError(
      'streaming PostgreSQL changes needs the `pg` package: `npm install pg` (it is an optional peer dependency of ormcache)',
      { cause: error },
    )
  }
}

interface TableRow {
  schema: string
  table: string
  replicaIdentity: string
  primaryKey: string[]
}

/**
 * Checks the server can stream logical changes, reads every table's primary key, and makes the
 * publication cover every table whose changes PostgreSQL can stream. Tables it cannot (no primary
 * key and the default replica identity) stay out: publishing them would make their UPDATEs and
 * DELETEs fail in the app.
 */
async function prepare(Client: PgClientConstructor, settings: ResolvedChanges, sink: TransactionSink) {
  const client = new Client({ connectionString: settings.url, application_name: 'ormcache-changes' })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const [server] = (await client.query(`select current_setting('wal_level') as wal_level`)).rows
    if (server?.wal_level !== 'logical') {
      throw new ChangeStreamError(
        `PostgreSQL's wal_level is '${String(server?.wal_level)}'; change streams need wal_level = logical: ` +
          '`ALTER SYSTEM SET wal_level = logical` and restart PostgreSQL (RDS and Aurora: rds.logical_replication = 1; ' +
          'Cloud SQL: cloudsql.logical_decoding = on)',
      )
    }
    const tables = (await client.query(TABLES_SQL)).rows as unknown as TableRow[]
    const primaryKeys = new Map(tables.map((row) => [`${row.schema}.${row.table}`, row.primaryKey]))
    const streamable = tables.filter(
      (row) => row.replicaIdentity !== 'n' && (row.replicaIdentity !== 'd' || row.primaryKey.length > 0),
    )
    if (settings.managedPublication) {
      await managePublication(client, settings.publication, streamable)
      const left = tables.filter((row) => !streamable.includes(row)).map((row) => `${row.schema}.${row.table}`)
      if (left.length > 0) sink.unpublished(left)
    } else {
      const found = await client.query('select 1 from pg_publication where pubname = $1', [settings.publication])
      if (found.rows.length === 0) {
        throw new ChangeStreamError(
          `the publication \`${settings.publication}\` (option changes.publication) does not exist`,
        )
      }
    }
    return { primaryKeys, createSlot: settings.slot !== undefined && (await slotToCreate(client, settings.slot)) }
  } catch (error) {
    throw explain(error)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/**
 * Whether the durable slot must be made: it is missing, or PostgreSQL invalidated it (past
 * `max_slot_wal_keep_size`), when it is dropped first. One of another database or plugin is not ours to touch.
 */
async function slotToCreate(client: PgClient, slot: string): Promise<boolean> {
  const { rows } = await client.query(
    `select wal_status, plugin, database = current_database() as here from pg_replication_slots where slot_name = $1`,
    [slot],
  )
  const [found] = rows as { wal_status: string | null; plugin: string | null; here: boolean }[]
  if (found === undefined) return true
  if (!found.here || found.plugin !== 'pgoutput') {
    throw new ChangeStreamError(
      `the replication slot \`${slot}\` (option changes.slot) belongs to another database or plugin: name another slot`,
    )
  }
  if (found.wal_status !== 'lost') return false
  await client.query('select pg_drop_replication_slot($1)', [slot])
  return true
}

// Ordinary and partitioned tables outside the system schemas, partitions left out (their changes
// are published as their root's), each with its primary key's columns.
const TABLES_SQL = `
  select n.nspname as schema, c.relname as table, c.relreplident as "replicaIdentity",
    coalesce((
      select array_agg(a.attname::text order by a.attname)
      from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
      where i.indrelid = c.oid and i.indisprimary
    ), '{}') as "primaryKey"
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and not c.relispartition
    and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
  order by n.nspname, c.relname`

async function managePublication(client: PgClient, publication: string, tables: readonly TableRow[]): Promise<void> {
  const name = quoteIdentifier(publication)
  const list = tables.map((row) => `${quoteIdentifier(row.schema)}.${quoteIdentifier(row.table)}`).join(', ')
  const found = await client.query('select 1 from pg_publication where pubname = $1', [publication])
  if (found.rows.length === 0) {
    // Published as the partitioned table, so tags name the table the ORMs know, not a partition.
    await client.query(
      `create publication ${name}${list === '' ? '' : ` for table ${list}`} with (publish_via_partition_root = true)`,
    )
  } else if (list !== '') {
    // Tables made since the publication was: another instance's consumer may be doing the same.
    await client.query(`alter publication ${name} set table ${list}`)
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** PostgreSQL's errors for a server or role that cannot stream, with the setting to change. */
function explain(error: unknown): Error {
  if (error instanceof ChangeStreamError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (/superuser or replication role|permission denied to start WAL sender/i.test(message)) {
    return new ChangeStreamError(
      'the database user may not stream changes: `ALTER ROLE <user> REPLICATION` (RDS: `GRANT rds_replication TO <user>`)',
      { cause: error },
    )
  }
  if (/replication slots are in use|max_replication_slots/i.test(message)) {
    return new ChangeStreamError(
      'PostgreSQL has no free replication slot: raise max_replication_slots (each database streamed takes one)',
      { cause: error },
    )
  }
  if (/must be owner of|permission denied for database/i.test(message)) {
    return new ChangeStreamError(
      'the database user may not create or change the publication: create it as the tables’ owner and name it in changes.publication',
      { cause: error },
    )
  }
  return new ChangeStreamError(`PostgreSQL change stream: ${message}`, { cause: error })
}
