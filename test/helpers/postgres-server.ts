// Private PostgreSQL 15 servers for tests that need what the shared one on
// 5432 cannot give: logical replication (it runs with wal_level=replica), or a
// database to kill and restart. Each is a fresh initdb with its own port and
// temp dir, runs without fsync, and dies with the test process however that
// process ends. Linux only: a server's processes are found through /proc.
// Free of vitest, so the benchmarks start one too; tests tie it to their hooks
// with `useResource(() => startPostgres())`.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import {
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { until, withDeadline } from '../fixtures/wait.js'

const BIN_DIR = '/usr/lib/postgresql/15/bin'
const HOST = '127.0.0.1'
const SUPERUSER = 'postgres'
const DEFAULT_DATABASE = 'postgres'
// Below Linux's ephemeral range (32768+), and below everything redis-server.ts
// picks: its servers take 12000-22000 and their cluster bus ports 22000-32000.
const PORT_RANGE_START = 10000
const PORT_RANGE_END = 12000
const START_ATTEMPTS = 20
const INITDB_TIMEOUT_MS = 30_000
// Covers crash recovery after kill() on a loaded machine.
const READY_TIMEOUT_MS = 15_000
const STOP_GRACE_MS = 5_000
const PROBE_CONNECT_TIMEOUT_MS = 1_000
const QUERY_CONNECT_TIMEOUT_MS = 5_000
const LOG_TAIL_LINES = 20

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

// Removes a server's dir, and first the shared memory segment of a postmaster
// that was SIGKILLed, which its postmaster.pid names (one that exits removes
// its own): each is small, but the kernel allows only 4096.
const REMOVE_DIR_FUNCTION = `
remove_dir() {
  shm=$(sed -n 7p "$1/data/postmaster.pid" 2>/dev/null | awk '{ print $2 }')
  if [ -n "$shm" ]; then ipcrm -m "$shm" 2>/dev/null; fi
  rm -rf "$1"
}
`

// Runs a command (initdb or the postmaster) as a child of a tiny shell that
// watches its stdin, a pipe from this process. If this process dies without
// cleaning up (vitest ends its workers with SIGTERM, which runs no exit
// handler), the pipe closes and the shell stops the command and removes the
// dir. redis-server.ts's OWNER_WATCHDOG_SCRIPT, but with SIGQUIT for SIGKILL:
// the postmaster's immediate shutdown, which ends its children (SIGKILLing
// those that linger) and frees its shared memory, where SIGKILL would leave
// both behind; SIGCONT lets a server that a test has SIGSTOPped handle it.
// Arguments: the dir, then the command. Prints the command's pid, then exits
// with the command's status.
const OWNER_WATCHDOG_SCRIPT = `${REMOVE_DIR_FUNCTION}
dir=$1; shift
exec 3<&0
"$@" 3<&- </dev/null >>"$dir/postgres.log" 2>&1 &
server=$!
echo "$server"
{ read -r line <&3; : >"$dir/owner-gone"; kill -QUIT "$server"; kill -CONT "$server"; } >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$server"
status=$?
kill "$watcher" 2>/dev/null
wait "$watcher"
if [ -e "$dir/owner-gone" ]; then remove_dir "$dir"; fi
exit "$status"
`

// Watches the dir while nothing runs in it (after initdb, kill() or a failed
// start): removes it when its stdin closes, unless it has read a line first,
// which is how this process releases it. Argument: the dir.
const DIR_GUARD_SCRIPT = `${REMOVE_DIR_FUNCTION}
if ! read -r line; then remove_dir "$1"; fi
`

/** A server that exited before accepting connections. */
class ServerExitedError extends Error {
  /** It could not listen on its port: another process has it. */
  readonly portInUse: boolean

  constructor(port: number, log: string) {
    super(`postgres on port ${port} exited before accepting connections; its log ends:\n${log}`)
    this.portInUse = log.includes('Address already in use')
  }
}

/** The user initdb and postgres run as: they refuse to run as root, so when this process is root, `postgres`. */
interface ServerUser {
  readonly uid: number
  readonly gid: number
}

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
  readonly #dir: string
  readonly #dataDir: string
  readonly #logFile: string
  readonly #settings: Readonly<Record<string, string>>
  readonly #user: ServerUser | undefined
  #port = 0
  /** The postmaster, while it runs. */
  #server: WatchedProcess | undefined
  #guard: ChildProcess | undefined
  #stopped: Promise<void> | undefined

  constructor(settings: Readonly<Record<string, string>>, user: ServerUser | undefined) {
    // The real path: the processes' working directories, which find them, are reported resolved.
    this.#dir = realpathSync(mkdtempSync(join(tmpdir(), 'ormcache-postgres-')))
    if (user) chownSync(this.#dir, user.uid, user.gid)
    this.#dataDir = join(this.#dir, 'data')
    this.#logFile = join(this.#dir, 'postgres.log')
    this.#settings = settings
    this.#user = user
  }

  get port(): number {
    return this.#port
  }

  get url(): string {
    return this.urlOf(DEFAULT_DATABASE)
  }

  get running(): boolean {
    return this.#server !== undefined
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
    const initdb = await this.#run('initdb', args)
    let status: number | null
    try {
      status = await withDeadline(initdb.waitForExit(), 'initdb', INITDB_TIMEOUT_MS)
    } catch (error) {
      initdb.signal('SIGKILL')
      await initdb.waitForExit()
      throw new Error(`initdb timed out; its output ends:\n${readLogTail(this.#logFile)}`, { cause: error })
    }
    if (status !== 0) throw new Error(`initdb exited with ${status}; its output ends:\n${readLogTail(this.#logFile)}`)
  }

  /** Starts the postmaster on `port` and resolves once it answers queries; rejects if it exits first. */
  async launch(port: number): Promise<void> {
    this.#releaseGuard()
    this.#port = port
    const logStart = statSync(this.#logFile, { throwIfNoEntry: false })?.size ?? 0
    // Last, so that the settings cannot move the server away from where this helper looks for it.
    const settings = {
      ...DEFAULT_SETTINGS,
      ...this.#settings,
      listen_addresses: HOST,
      unix_socket_directories: this.#dir,
    }
    const args = [
      ...['-D', this.#dataDir, '-p', String(port)],
      ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ]
    const server = await this.#run('postgres', args)
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
            // Its own data directory: a server of another test that took the port would answer too.
            const rows = await runQuery<{ data_directory: string }>(
              port,
              DEFAULT_DATABASE,
              'SHOW data_directory',
              undefined,
              PROBE_CONNECT_TIMEOUT_MS,
            )
            return rows[0]?.data_directory === this.#dataDir
          } catch (error) {
            lastError = error
            return false
          }
        },
        () =>
          `postgres on port ${port} to accept connections (last attempt: ${describeError(lastError)}); ` +
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
    if (this.#stopped) throw new Error(`postgres on port ${this.#port} was stopped; start a new one instead`)
    if (this.#server) throw new Error(`postgres on port ${this.#port} is still running; kill() it first`)
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
    const server = this.#server
    if (server) {
      server.signal('SIGINT')
      const graceful = await withDeadline(server.waitForExit(), 'a fast shutdown', STOP_GRACE_MS).then(
        () => true,
        () => false,
      )
      if (!graceful) await this.kill()
    }
    await this.#endOrphans()
    await removeSharedMemoryOf(this.#dataDir)
    this.#releaseGuard()
    rmSync(this.#dir, { recursive: true, force: true })
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

  /** Runs a server binary under the watchdog; whenever it exits, the guard takes over the dir. */
  async #run(binary: string, args: readonly string[]): Promise<WatchedProcess> {
    try {
      const watched = await WatchedProcess.start(this.#dir, this.#user, join(BIN_DIR, binary), args)
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
      ...this.#user,
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
  /** The command's pid (the wrapper shell's child). */
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

  static async start(
    dir: string,
    user: ServerUser | undefined,
    command: string,
    args: readonly string[],
  ): Promise<WatchedProcess> {
    const wrapper = spawn('sh', ['-c', OWNER_WATCHDOG_SCRIPT, 'sh', dir, command, ...args], {
      cwd: dir,
      // The shell's own stderr would only say "Killed"; the command's output goes to the log file.
      stdio: ['pipe', 'pipe', 'ignore'],
      ...user,
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

  signal(signal: NodeJS.Signals): void {
    if (!this.#done) signalQuietly(this.pid, signal)
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

/** The processes whose working directory is `dir`: a postmaster moves into its data dir; its children inherit it. */
function processesIn(dir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir) pids.push(Number(entry))
    } catch {
      // Gone since the listing, a zombie (which has no working directory), or another user's.
    }
  }
  return pids
}

/** Frees the shared memory segment of a postmaster that was SIGKILLed (see REMOVE_DIR_FUNCTION). */
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
