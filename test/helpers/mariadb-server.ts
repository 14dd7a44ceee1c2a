// Private MariaDB servers for tests that need what the shared one on 3306
// cannot give: a binary log (it runs with the binlog off) to follow, or a
// database to kill and restart. Each is a fresh mariadb-install-db with its own
// port and temp dir, logs rows (binlog_format=ROW), and dies with the test
// process however that process ends. Linux only (setsid, /proc). Free of
// vitest, so the benchmarks can start one too; tests tie it to their hooks with
// `useResource(() => startMariadb())`.
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { HOST, launchOnFreePort, type PortRange, ServerDir, type WatchedProcess } from './server-process.js'

// Debian's paths, unless the environment names others.
const INSTALL_DB = process.env.ORMCACHE_MARIADB_INSTALL_DB ?? '/usr/bin/mariadb-install-db'
const MARIADBD = process.env.ORMCACHE_MARIADBD ?? '/usr/sbin/mariadbd'
const SUPERUSER = 'root'
// Below everything the other helpers pick: postgres-server.ts takes 10000-12000,
// redis-server.ts 12000-22000 and their cluster bus ports 22000-32000.
const PORTS: PortRange = { start: 8000, end: 10000 }
const INSTALL_DB_TIMEOUT_MS = 30_000
// Covers crash recovery after kill() on a loaded machine.
const READY_TIMEOUT_MS = 15_000
const PROBE_CONNECT_TIMEOUT_MS = 1_000
const QUERY_CONNECT_TIMEOUT_MS = 5_000
// Both the bootstrap and the server use it, or the server would resize the redo
// log at its first start. The default, 96 MB, would be most of the dir's size.
const REDO_LOG_SIZE = '16M'

// Row events, and no durability against the machine crashing: a test's data
// dies with its server anyway. A commit still reaches the redo log and the
// binlog in the page cache (innodb_flush_log_at_trx_commit=2, sync_binlog=0),
// so it survives kill(), which ends only the process. The character set is the
// shared server's, from its my.cnf, which --no-defaults does not read.
const DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  'binlog-format': 'ROW',
  'server-id': '1',
  'innodb-flush-log-at-trx-commit': '2',
  'innodb-buffer-pool-size': '32M',
  'innodb-log-file-size': REDO_LOG_SIZE,
  'skip-name-resolve': 'ON',
  'character-set-server': 'utf8mb4',
  'collation-server': 'utf8mb4_general_ci',
}

export interface MariadbServerOptions {
  /**
   * Extra `--name=value` server settings, e.g. `{ max_connections: '20' }` (`_`
   * or `-`, as mariadbd takes both). They override the defaults
   * (binlog_format=ROW, server_id=1, ...), but not the paths, address and port,
   * which the helper chooses.
   */
  settings?: Readonly<Record<string, string>>
}

export interface MariadbServer extends AsyncDisposable {
  readonly port: number
  /** mysql://root@127.0.0.1:<port>/ (no database) */
  readonly url: string
  /** URL of database `name` on this server. */
  urlOf(database: string): string
  readonly running: boolean
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>
  /**
   * Creates user `name` (any host, no password), grants it `grants` on `*.*`
   * (e.g. `'REPLICATION SLAVE, REPLICATION CLIENT, SELECT'`), and returns its URL (no database).
   */
  createUser(name: string, grants: string): Promise<string>
  /**
   * Runs SQL (multipleStatements allowed) on `database` (none by default) through a short-lived
   * connection; returns the rows of the last statement.
   */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>
  /** SIGKILL the server, as a crash would; resolves once it is gone. */
  kill(): Promise<void>
  /** Starts it again on the same port and data dir (after kill only); throws if it is running. */
  restart(): Promise<void>
  /** Stops the server (SIGTERM; SIGKILL after a grace period) and removes its dir; safe to call twice. */
  stop(): Promise<void>
}

/** Starts a MariaDB server on a free port; the caller stops it (see `disposeAfterTest`, `useResource`). */
export async function startMariadb(options: MariadbServerOptions = {}): Promise<MariadbServer> {
  const server = new MariadbServerProcess(options.settings ?? {})
  try {
    await server.installDb()
    await launchOnFreePort(PORTS, (port) => server.launch(port))
    return server
  } catch (error) {
    await server.stop()
    throw error
  }
}

// When this process is gone, the watchdog SIGKILLs a command
// (mariadb-install-db or mariadbd) with its process group (setsid):
// mariadb-install-db is a script whose bootstrap mariadbd would otherwise go
// on writing into the dir as it is removed. setsid execs the command in place
// (it forks only when already a group leader, which a job of the
// non-interactive watchdog shell is not), so `$server` is the command's pid
// and its group's id; until setsid has made the group, only that pid exists
// to kill. SIGKILL also ends a server that a test has SIGSTOPped.
const KILL_ORPHAN = 'kill -KILL -"$server" || kill -KILL "$server"'

// mariadbd refuses to run as root unless told to with --user=root; running as
// root (rather than as mysql, with the dir chowned to it) leaves every file in
// the dir this process's to remove.
const USER_ARGS: readonly string[] = process.getuid?.() === 0 ? ['--user=root'] : []

class MariadbServerProcess implements MariadbServer {
  readonly #dir = new ServerDir({ name: 'mariadb', log: 'error.log', killOrphan: KILL_ORPHAN, processGroup: true })
  readonly #dataDir = join(this.#dir.path, 'data')
  readonly #settings: Readonly<Record<string, string>>
  #port = 0
  #server: WatchedProcess | undefined
  #stopped: Promise<void> | undefined

  constructor(settings: Readonly<Record<string, string>>) {
    this.#settings = settings
  }

  get port(): number {
    return this.#port
  }

  get url(): string {
    return this.urlOf('')
  }

  get running(): boolean {
    return this.#server?.running ?? false
  }

  urlOf(database: string): string {
    return `mysql://${SUPERUSER}@${HOST}:${this.#port}/${encodeURIComponent(database)}`
  }

  async createDatabase(name: string): Promise<string> {
    await this.query(`CREATE DATABASE ${mysql.escapeId(name)}`)
    return this.urlOf(name)
  }

  async createUser(name: string, grants: string): Promise<string> {
    // '%' alone is enough: no anonymous account (''@localhost), which would match before it, exists to shadow it.
    const account = `${mysql.escape(name)}@'%'`
    await this.query(`CREATE USER ${account}; GRANT ${grants} ON *.* TO ${account}`)
    return `mysql://${encodeURIComponent(name)}@${HOST}:${this.#port}/`
  }

  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]> {
    return runQuery<T>(this.#port, database, sql, params, QUERY_CONNECT_TIMEOUT_MS)
  }

  /** Creates the data dir: root may log in from 127.0.0.1 without a password. */
  async installDb(): Promise<void> {
    const args = [
      '--no-defaults',
      ...USER_ARGS,
      `--datadir=${this.#dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      // Skips looking up the host's name, which can be slow or fail; root@127.0.0.1 is created regardless.
      '--force',
      `--innodb-log-file-size=${REDO_LOG_SIZE}`,
      `--tmpdir=${this.#dir.path}`,
    ]
    await this.#dir.run(INSTALL_DB, args, INSTALL_DB_TIMEOUT_MS)
  }

  /** Starts mariadbd on `port` and resolves once it answers queries; rejects if it exits first. */
  async launch(port: number): Promise<void> {
    this.#port = port
    const settings: Record<string, string> = { ...DEFAULT_SETTINGS }
    for (const [name, value] of Object.entries(this.#settings)) settings[name.replaceAll('_', '-')] = value
    // Last, where mariadbd's last-one-wins reading of options keeps the settings from moving the server
    // away from where this helper looks for it, or its files out of the dir.
    Object.assign(settings, {
      datadir: this.#dataDir,
      port: String(port),
      'bind-address': HOST,
      socket: join(this.#dir.path, 'mysqld.sock'),
      'pid-file': join(this.#dir.path, 'mysqld.pid'),
      'log-bin': join(this.#dir.path, 'binlog'),
      'log-error': this.#dir.logFile,
      tmpdir: this.#dir.path,
    })
    const args = [
      '--no-defaults',
      ...USER_ARGS,
      ...Object.entries(settings).map(([name, value]) => `--${name}=${value}`),
    ]
    this.#server = await this.#dir.launch(MARIADBD, args, port, READY_TIMEOUT_MS, async () => {
      // Its own data dir: a server of another test that took the port would answer too.
      const rows = await runQuery<{ dataDir: string }>(
        port,
        undefined,
        'SELECT @@datadir AS dataDir',
        undefined,
        PROBE_CONNECT_TIMEOUT_MS,
      )
      return rows[0]?.dataDir === `${this.#dataDir}/`
    })
  }

  async kill(): Promise<void> {
    await this.#server?.kill()
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error(`mariadbd on port ${this.#port} was stopped; start a new one instead`)
    if (this.running) throw new Error(`mariadbd on port ${this.#port} is still running; kill() it first`)
    await this.launch(this.#port)
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop()
    return this.#stopped
  }

  async #stop(): Promise<void> {
    await this.#server?.stop('SIGTERM')
    this.#dir.remove()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }
}

async function runQuery<T>(
  port: number,
  database: string | undefined,
  sql: string,
  params: unknown[] | undefined,
  connectTimeoutMs: number,
): Promise<T[]> {
  const connection = await mysql.createConnection({
    host: HOST,
    port,
    user: SUPERUSER,
    database,
    multipleStatements: true,
    connectTimeout: connectTimeoutMs,
  })
  // Errors of a query reject it; this only keeps a socket error after the query from going unhandled.
  connection.on('error', () => {})
  try {
    const [result, fields] = await connection.query(sql, params)
    // Several statements give a list of results, and a list of column lists (undefined for those without rows).
    const several =
      Array.isArray(fields) && fields.some((columns: unknown) => columns === undefined || Array.isArray(columns))
    const last: unknown = several && Array.isArray(result) ? result.at(-1) : result
    // A statement without rows (CREATE, INSERT...) gives a result header instead.
    return (Array.isArray(last) ? last : []) as T[]
  } finally {
    // end() sends a goodbye the server may no longer be there to read (after kill(), say).
    await connection.end().catch(() => connection.destroy())
  }
}
