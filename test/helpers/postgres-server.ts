// Private PostgreSQL 15 servers for tests that need what the shared one on
// 5432 cannot give: logical replication (it runs with wal_level=replica), or a
// database to kill and restart. Each is a fresh initdb with its own port and
// temp dir, runs without fsync, and dies with the test process however that
// process ends. Linux only: a server's processes are found through /proc.
// Free of vitest, so the benchmarks start one too; tests tie it to their hooks
// with `useResource(() => startPostgres())`.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { until } from '../fixtures/wait.js'
import {
  HOST,
  launchOnFreePort,
  type PortRange,
  processesIn,
  ServerDir,
  type ServerUser,
  STOP_GRACE_MS,
  signalQuietly,
  type WatchedProcess,
} from './server-process.js'

// Debian's PostgreSQL 15, unless ORMCACHE_PG_BIN names another directory holding initdb and postgres.
const BIN_DIR = process.env.ORMCACHE_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const SUPERUSER = 'postgres'
const DEFAULT_DATABASE = 'postgres'
// Below Linux's ephemeral range (32768+), and below everything redis-server.ts
// picks: its servers take 12000-22000 and their cluster bus ports 22000-32000.
const PORTS: PortRange = { start: 10000, end: 12000 }
const INITDB_TIMEOUT_MS = 30_000
// Covers crash recovery after kill() on a loaded machine.
const READY_TIMEOUT_MS = 15_000
const PROBE_CONNECT_TIMEOUT_MS = 1_000
const QUERY_CONNECT_TIMEOUT_MS = 5_000

// Logical decoding, and no durability against the machine crashing: a test's
// data dies with its server anyway. synchronous_commit stays on (with fsync off
// it costs a write, not a flush): off, a commit is only in shared memory for up
// to 200 ms, where kill() loses it and logical decoding does not yet see it.
const DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  wal_level: 'logical',
  max_replication_slots: '10',
  max_wal_senders: '10',
  fsync: 'off',
  full_page_writes: 'off',
}

const execFileAsync = promisify(execFile)

export interface PostgresServerOptions {
  /**
   * Extra `-c name=value` server settings, e.g. `{ max_connections: '20' }`. They
   * override the defaults (wal_level=logical, fsync=off, ...), but not the
   * address, port and socket dir, which the helper chooses.
   */
  settings?: Readonly<Record<string, string>>
}

export interface PostgresServer extends AsyncDisposable {
  readonly port: number
  /** postgresql://postgres@127.0.0.1:<port>/postgres */
  readonly url: string
  /** URL of database `name` on this server. */
  urlOf(database: string): string
  readonly running: boolean
  /** Creates a database (owner postgres) and returns its URL. */
  createDatabase(name: string): Promise<string>
  /**
   * Runs SQL on `database` (default 'postgres') through a short-lived pg client; returns rows.
   * Several statements (allowed without `params`) return the last one's rows.
   */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>
  /** SIGKILL the postmaster, as a crash would (children exit on their own); resolves once it is gone. */
  kill(): Promise<void>
  /** Starts it again on the same port and data dir (after kill or stop of the process only). */
  restart(): Promise<void>
  /** Stops the server (fast shutdown, SIGINT; SIGKILL after a grace period) and removes its dir; safe twice. */
  stop(): Promise<void>
}

/** Starts a PostgreSQL server on a free port; the caller stops it (see `disposeAfterTest`, `usePostgresServer`). */
export async function startPostgres(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const server = new PostgresServerProcess(options.settings ?? {}, await postgresUser())
  try {
    await server.initdb()
    await launchOnFreePort(PORTS, (port) => server.launch(port))
    return server
  } catch (error) {
    await server.stop()
    throw error
  }
}

// Before a server's dir is removed: frees the shared memory segment of a
// postmaster that was SIGKILLed, which its postmaster.pid names (one that
// exits removes its own): each is small, but the kernel allows only 4096.
const REMOVE_SHARED_MEMORY = `
  shm=$(sed -n 7p "$1/data/postmaster.pid" 2>/dev/null | awk '{ print $2 }')
  if [ -n "$shm" ]; then ipcrm -m "$shm" 2>/dev/null; fi
`

// When this process is gone, the watchdog stops a command (initdb or the
// postmaster) with SIGQUIT, the postmaster's immediate shutdown, which ends
// its children (SIGKILLing those that linger) and frees its shared memory,
// where SIGKILL would leave both behind; SIGCONT lets a server that a test has
// SIGSTOPped handle it.
const KILL_ORPHAN = 'kill -QUIT "$server"; kill -CONT "$server"'

/** The user initdb and postgres run as: they refuse to run as root, so when this process is root, `postgres`. */
let serverUser: Promise<ServerUser | undefined> | undefined

function postgresUser(): Promise<ServerUser | undefined> {
  serverUser ??= (async () => {
    if (process.getuid?.() !== 0) return undefined
    const id = async (flag: string) => Number((await execFileAsync('id', [flag, SUPERUSER])).stdout.trim())
    const [uid, gid] = await Promise.all([id('-u'), id('-g')])
    return { uid, gid }
  })()
  return serverUser
}

class PostgresServerProcess implements PostgresServer {
  readonly #dir: ServerDir
  readonly #dataDir: string
  readonly #settings: Readonly<Record<string, string>>
  #port = 0
  /** The postmaster. */
  #server: WatchedProcess | undefined
  #stopped: Promise<void> | undefined

  constructor(settings: Readonly<Record<string, string>>, user: ServerUser | undefined) {
    this.#dir = new ServerDir({
      name: 'postgres',
      log: 'postgres.log',
      killOrphan: KILL_ORPHAN,
      beforeRemove: REMOVE_SHARED_MEMORY,
      user,
    })
    this.#dataDir = join(this.#dir.path, 'data')
    this.#settings = settings
  }

  get port(): number {
    return this.#port
  }

  get url(): string {
    return this.urlOf(DEFAULT_DATABASE)
  }

  get running(): boolean {
    return this.#server?.running ?? false
  }

  urlOf(database: string): string {
    return `postgresql://${SUPERUSER}@${HOST}:${this.#port}/${encodeURIComponent(database)}`
  }

  async createDatabase(name: string): Promise<string> {
    await this.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`)
    return this.urlOf(name)
  }

  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database = DEFAULT_DATABASE): Promise<T[]> {
    return runQuery<T>(this.#port, database, sql, params, QUERY_CONNECT_TIMEOUT_MS)
  }

  /** Creates the cluster: superuser postgres, trust authentication. */
  async initdb(): Promise<void> {
    const args = ['-D', this.#dataDir, '-A', 'trust', '-U', SUPERUSER, '--no-sync', '-E', 'UTF8']
    await this.#dir.run(join(BIN_DIR, 'initdb'), args, INITDB_TIMEOUT_MS)
  }

  /** Starts the postmaster on `port` and resolves once it answers queries; rejects if it exits first. */
  async launch(port: number): Promise<void> {
    this.#port = port
    // Last, so that the settings cannot move the server away from where this helper looks for it.
    const settings = {
      ...DEFAULT_SETTINGS,
      ...this.#settings,
      listen_addresses: HOST,
      unix_socket_directories: this.#dir.path,
    }
    const args = [
      ...['-D', this.#dataDir, '-p', String(port)],
      ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ]
    this.#server = await this.#dir.launch(join(BIN_DIR, 'postgres'), args, port, READY_TIMEOUT_MS, async () => {
      // Its own data directory: a server of another test that took the port would answer too.
      const rows = await runQuery<{ data_directory: string }>(
        port,
        DEFAULT_DATABASE,
        'SHOW data_directory',
        undefined,
        PROBE_CONNECT_TIMEOUT_MS,
      )
      return rows[0]?.data_directory === this.#dataDir
    })
  }

  async kill(): Promise<void> {
    await this.#server?.kill()
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error(`postgres on port ${this.#port} was stopped; start a new one instead`)
    if (this.running) throw new Error(`postgres on port ${this.#port} is still running; kill() it first`)
    // A killed postmaster's children exit on their own, and a new one refuses to start while they hold its memory.
    await until(
      () => processesIn(this.#dataDir).length === 0,
      () => `the processes of the killed postgres on port ${this.#port} to exit: ${processesIn(this.#dataDir)}`,
      READY_TIMEOUT_MS,
    )
    await this.launch(this.#port)
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop()
    return this.#stopped
  }

  async #stop(): Promise<void> {
    // SIGINT: a fast shutdown.
    await this.#server?.stop('SIGINT')
    await this.#endOrphans()
    await removeSharedMemoryOf(this.#dataDir)
    this.#dir.remove()
  }

  /** Waits for the children of a SIGKILLed postmaster to exit, and kills those that linger. */
  async #endOrphans(): Promise<void> {
    const gone = () => processesIn(this.#dataDir).length === 0
    try {
      await until(gone, 'the processes of a killed postmaster to exit', STOP_GRACE_MS)
    } catch {
      for (const pid of processesIn(this.#dataDir)) signalQuietly(pid, 'SIGKILL')
      await until(gone, () => `postgres processes ${processesIn(this.#dataDir)} to die of SIGKILL`, STOP_GRACE_MS)
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }
}

async function runQuery<T>(
  port: number,
  database: string,
  sql: string,
  params: unknown[] | undefined,
  connectTimeoutMs: number,
): Promise<T[]> {
  // ssl: false, or a PGSSLMODE in the environment could ask for TLS, which these servers do not offer.
  const client = new pg.Client({
    host: HOST,
    port,
    user: SUPERUSER,
    database,
    ssl: false,
    connectionTimeoutMillis: connectTimeoutMs,
  })
  // Errors of a query reject it; this only keeps a socket error after the query from going unhandled.
  client.on('error', () => {})
  try {
    await client.connect()
    const result: pg.QueryResult | pg.QueryResult[] = await client.query(sql, params)
    const last = Array.isArray(result) ? result.at(-1) : result
    return (last?.rows ?? []) as T[]
  } finally {
    await client.end()
  }
}

/** Frees the shared memory segment of a postmaster that was SIGKILLed (see REMOVE_SHARED_MEMORY). */
async function removeSharedMemoryOf(dataDir: string): Promise<void> {
  let lockFile: string
  try {
    lockFile = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8')
  } catch {
    return
  }
  // Its 7th line is the segment's key and id.
  const id = lockFile.split('\n')[6]?.trim().split(/\s+/)[1]
  if (id === undefined || !/^\d+$/.test(id)) return
  await execFileAsync('ipcrm', ['-m', id]).catch(() => {})
}
