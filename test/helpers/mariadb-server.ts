// Private MariaDB servers for tests that need what the shared one on 3306
// cannot give: a binary log (it runs with the binlog off) to follow, or a
// database to kill and restart. Each is a fresh mariadb-install-db with its own
// port and temp dir, logs rows (binlog_format=ROW), and dies with the test
// process however that process ends. Linux only (setsid, /proc). Free of
// vitest, so the benchmarks can start one too; tests tie it to their hooks with
// `useResource(() => startMariadb())`.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { until, withDeadline } from '../fixtures/wait.js'

const INSTALL_DB = '/usr/bin/mariadb-install-db'
const MARIADBD = '/usr/sbin/mariadbd'
const HOST = '127.0.0.1'
const SUPERUSER = 'root'
// Below everything the other helpers pick: postgres-server.ts takes 10000-12000,
// redis-server.ts 12000-22000 and their cluster bus ports 22000-32000.
const PORT_RANGE_START = 8000
const PORT_RANGE_END = 10000
const START_ATTEMPTS = 20
const INSTALL_DB_TIMEOUT_MS = 30_000
// Covers crash recovery after kill() on a loaded machine.
const READY_TIMEOUT_MS = 15_000
const STOP_GRACE_MS = 5_000
const PROBE_CONNECT_TIMEOUT_MS = 1_000
const QUERY_CONNECT_TIMEOUT_MS = 5_000
const LOG_TAIL_LINES = 20
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
    for (let attempt = 1; ; attempt++) {
      try {
        await server.launch(await pickPort())
        return server
      } catch (error) {
        // Most likely a parallel test file took the port between our check and the bind: try another.
        if (!(error instanceof ServerExitedError && error.portInUse) || attempt === START_ATTEMPTS) throw error
      }
    }
  } catch (error) {
    await server.stop()
    throw error
  }
}

// Runs a command (mariadb-install-db or mariadbd) as a child of a tiny shell
// that watches its stdin, a pipe from this process. If this process dies
// without cleaning up (vitest ends its workers with SIGTERM, which runs no exit
// handler), the pipe closes and the shell SIGKILLs the command and removes the
// dir. redis-server.ts's OWNER_WATCHDOG_SCRIPT, but the command runs in a
// process group of its own (setsid) that is killed whole: mariadb-install-db is
// a script whose bootstrap mariadbd would otherwise go on writing into the dir
// as it is removed. setsid execs the command in place (it forks only when
// already a group leader, which a job of this non-interactive shell is not), so
// `$!` is the command's pid and its group's id; until setsid has made the
// group, only that pid exists to kill. SIGKILL also ends a server that a test
// has SIGSTOPped.
// Arguments: the dir, then the command. Prints the command's pid, then exits
// with the command's status.
const OWNER_WATCHDOG_SCRIPT = `
dir=$1; shift
exec 3<&0
setsid "$@" 3<&- </dev/null >>"$dir/error.log" 2>&1 &
server=$!
echo "$server"
{ read -r line <&3; : >"$dir/owner-gone"; kill -KILL -"$server" || kill -KILL "$server"; } >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$server"
status=$?
kill "$watcher" 2>/dev/null
wait "$watcher"
if [ -e "$dir/owner-gone" ]; then rm -rf "$dir"; fi
exit "$status"
`

// Watches the dir while nothing runs in it (after mariadb-install-db, kill() or
// a failed start): removes it when its stdin closes, unless it has read a line
// first, which is how this process releases it. Argument: the dir.
const DIR_GUARD_SCRIPT = `
if ! read -r line; then rm -rf "$1"; fi
`

/** A server that exited before accepting connections. */
class ServerExitedError extends Error {
  /** It could not listen on its port: another process has it. */
  readonly portInUse: boolean

  constructor(port: number, log: string) {
    super(`mariadbd on port ${port} exited before accepting connections; its log ends:\n${log}`)
    this.portInUse = log.includes('Address already in use')
  }
}

// mariadbd refuses to run as root unless told to with --user=root; running as
// root (rather than as mysql, with the dir chowned to it) leaves every file in
// the dir this process's to remove.
const USER_ARGS: readonly string[] = process.getuid?.() === 0 ? ['--user=root'] : []

class MariadbServerProcess implements MariadbServer {
  readonly #dir: string
  readonly #dataDir: string
  readonly #logFile: string
  readonly #settings: Readonly<Record<string, string>>
  #port = 0
  /** The server, while it runs. */
  #server: WatchedProcess | undefined
  #guard: ChildProcess | undefined
  #stopped: Promise<void> | undefined

  constructor(settings: Readonly<Record<string, string>>) {
    // The real path: the server reports its data dir resolved, and the readiness check compares it.
    this.#dir = realpathSync(mkdtempSync(join(tmpdir(), 'ormcache-mariadb-')))
    this.#dataDir = join(this.#dir, 'data')
    this.#logFile = join(this.#dir, 'error.log')
    this.#settings = settings
  }

  get port(): number {
    return this.#port
  }

  get url(): string {
    return this.urlOf('')
  }

  get running(): boolean {
    return this.#server !== undefined
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
      `--tmpdir=${this.#dir}`,
    ]
    const installDb = await this.#run(INSTALL_DB, args)
    let status: number | null
    try {
      status = await withDeadline(installDb.waitForExit(), 'mariadb-install-db', INSTALL_DB_TIMEOUT_MS)
    } catch (error) {
      installDb.signal('SIGKILL')
      await installDb.waitForExit()
      throw new Error(`mariadb-install-db timed out; its output ends:\n${readLogTail(this.#logFile)}`, {
        cause: error,
      })
    }
    if (status !== 0) {
      throw new Error(`mariadb-install-db exited with ${status}; its output ends:\n${readLogTail(this.#logFile)}`)
    }
  }

  /** Starts mariadbd on `port` and resolves once it answers queries; rejects if it exits first. */
  async launch(port: number): Promise<void> {
    this.#releaseGuard()
    this.#port = port
    const logStart = statSync(this.#logFile, { throwIfNoEntry: false })?.size ?? 0
    const settings: Record<string, string> = { ...DEFAULT_SETTINGS }
    for (const [name, value] of Object.entries(this.#settings)) settings[name.replaceAll('_', '-')] = value
    // Last, where mariadbd's last-one-wins reading of options keeps the settings from moving the server
    // away from where this helper looks for it, or its files out of the dir.
    Object.assign(settings, {
      datadir: this.#dataDir,
      port: String(port),
      'bind-address': HOST,
      socket: join(this.#dir, 'mysqld.sock'),
      'pid-file': join(this.#dir, 'mysqld.pid'),
      'log-bin': join(this.#dir, 'binlog'),
      'log-error': this.#logFile,
      tmpdir: this.#dir,
    })
    const args = [
      '--no-defaults',
      ...USER_ARGS,
      ...Object.entries(settings).map(([name, value]) => `--${name}=${value}`),
    ]
    const server = await this.#run(MARIADBD, args)
    this.#server = server
    void server.exited.then(() => {
      if (this.#server === server) this.#server = undefined
    })
    let lastError: unknown
    try {
      await until(
        async () => {
          if (server.done) throw new ServerExitedError(port, readLogTail(this.#logFile, logStart))
          try {
            // Its own data dir: a server of another test that took the port would answer too.
            const rows = await runQuery<{ dataDir: string }>(
              port,
              undefined,
              'SELECT @@datadir AS dataDir',
              undefined,
              PROBE_CONNECT_TIMEOUT_MS,
            )
            return rows[0]?.dataDir === `${this.#dataDir}/`
          } catch (error) {
            lastError = error
            return false
          }
        },
        () =>
          `mariadbd on port ${port} to accept connections (last attempt: ${describeError(lastError)}); ` +
          `its log ends:\n${readLogTail(this.#logFile, logStart)}`,
        READY_TIMEOUT_MS,
      )
    } catch (error) {
      await this.kill()
      throw error
    }
    // A test that forgets stop() must not keep its worker alive; the watchdog still stops the server.
    server.unref()
  }

  async kill(): Promise<void> {
    const server = this.#server
    if (!server) return
    server.signal('SIGKILL')
    await server.waitForExit()
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error(`mariadbd on port ${this.#port} was stopped; start a new one instead`)
    if (this.#server) throw new Error(`mariadbd on port ${this.#port} is still running; kill() it first`)
    await this.launch(this.#port)
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop()
    return this.#stopped
  }

  async #stop(): Promise<void> {
    const server = this.#server
    if (server) {
      server.signal('SIGTERM')
      const graceful = await withDeadline(server.waitForExit(), 'a normal shutdown', STOP_GRACE_MS).then(
        () => true,
        () => false,
      )
      if (!graceful) await this.kill()
    }
    this.#releaseGuard()
    rmSync(this.#dir, { recursive: true, force: true })
  }

  /** Runs a command under the watchdog; whenever it exits, the guard takes over the dir. */
  async #run(command: string, args: readonly string[]): Promise<WatchedProcess> {
    try {
      const watched = await WatchedProcess.start(this.#dir, command, args)
      // Registered before anyone can wait for the exit, so the guard is in place when they resume.
      void watched.exited.then(() => this.#guardDir())
      return watched
    } catch (error) {
      this.#guardDir()
      throw error
    }
  }

  #guardDir(): void {
    if (this.#guard || this.#stopped) return
    const guard = spawn('sh', ['-c', DIR_GUARD_SCRIPT, 'sh', this.#dir], {
      cwd: this.#dir,
      stdio: ['pipe', 'ignore', 'ignore'],
    })
    // Fails only if sh cannot be spawned; the server's own start would then fail too, and say so.
    guard.on('error', () => {})
    guard.unref()
    if (guard.stdin instanceof Socket) guard.stdin.unref()
    this.#guard = guard
  }

  #releaseGuard(): void {
    this.#guard?.stdin?.end('release\n')
    this.#guard = undefined
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }
}

/** A command run under OWNER_WATCHDOG_SCRIPT. */
class WatchedProcess {
  /** The command's pid (the wrapper shell's child), which is also its process group's id. */
  readonly pid: number
  /** Resolves with the command's exit status once it has exited; holds no event loop open. */
  readonly exited: Promise<number | null>
  readonly #wrapper: ChildProcess
  #done = false

  private constructor(wrapper: ChildProcess, pid: number, exited: Promise<number | null>) {
    this.#wrapper = wrapper
    this.pid = pid
    this.exited = exited
    void exited.then(() => {
      this.#done = true
    })
  }

  static async start(dir: string, command: string, args: readonly string[]): Promise<WatchedProcess> {
    const wrapper = spawn('sh', ['-c', OWNER_WATCHDOG_SCRIPT, 'sh', dir, command, ...args], {
      cwd: dir,
      // The shell's own stderr would only say "Killed"; the command's output goes to the log file.
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    const exited = new Promise<number | null>((resolve) => {
      wrapper.once('exit', (code) => {
        // Ends the watchdog's `read`, which would otherwise wait for this process to exit.
        wrapper.stdin?.destroy()
        resolve(code)
      })
    })
    try {
      const pid = await withDeadline(readPid(wrapper), `the ${command} wrapper to print its pid`, READY_TIMEOUT_MS)
      return new WatchedProcess(wrapper, pid, exited)
    } catch (error) {
      wrapper.kill('SIGKILL')
      throw error
    }
  }

  get done(): boolean {
    return this.#done
  }

  /** Signals the command's process group (mariadb-install-db's bootstrap server with it). */
  signal(signal: NodeJS.Signals): void {
    if (this.#done) return
    try {
      process.kill(-this.pid, signal)
    } catch {
      // setsid has not made the group yet, so the command has started nothing yet either.
      signalQuietly(this.pid, signal)
    }
  }

  /** `exited`, holding the event loop open meanwhile (the wrapper is unref'd once the server is up). */
  async waitForExit(): Promise<number | null> {
    this.#wrapper.ref()
    return this.exited
  }

  /** Lets this process exit while the command runs; the watchdog then stops it. */
  unref(): void {
    this.#wrapper.unref()
    for (const stream of [this.#wrapper.stdin, this.#wrapper.stdout]) if (stream instanceof Socket) stream.unref()
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

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // It died on its own; its exit has not been noticed yet.
  }
}

async function pickPort(): Promise<number> {
  for (;;) {
    const port = PORT_RANGE_START + Math.floor(Math.random() * (PORT_RANGE_END - PORT_RANGE_START))
    if (await isPortFree(port)) return port
  }
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen({ port, host: HOST, exclusive: true }, () => probe.close(() => resolve(true)))
  })
}

function readPid(wrapper: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const newline = output.indexOf('\n')
      if (newline === -1) return
      wrapper.stdout?.off('data', onData)
      resolve(Number(output.slice(0, newline)))
    }
    wrapper.stdout?.on('data', onData)
    wrapper.once('error', reject)
    wrapper.stdout?.once('end', () => reject(new Error('the watchdog shell exited before starting its command')))
  })
}

/** The last lines of the log from byte `from` on. */
function readLogTail(logFile: string, from = 0): string {
  try {
    const text = readFileSync(logFile).subarray(from).toString('utf8').trim()
    return text === '' ? '(nothing)' : text.split('\n').slice(-LOG_TAIL_LINES).join('\n')
  } catch {
    return '(no log)'
  }
}

function describeError(error: unknown): string {
  if (error === undefined) return 'none failed'
  return error instanceof Error ? error.message : String(error)
}
