// What the private servers of redis-server.ts, postgres-server.ts and
// mariadb-server.ts share: each runs in a temp dir of its own, on a free port,
// and dies, its dir removed, with the process that started it however that
// process ends. What differs per server (its commands, how it is told to stop,
// how readiness is checked) stays in its helper. Linux only (/proc, setsid).
// Free of vitest, as those helpers are.
import { type ChildProcess, spawn } from 'node:child_process'
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
import { basename, join } from 'node:path'
import { until, withDeadline } from '../fixtures/wait.js'

/** The address every private server listens on. */
export const HOST = '127.0.0.1'
/** How long a server asked to shut down has before it is SIGKILLed. */
export const STOP_GRACE_MS = 5_000
const START_ATTEMPTS = 20
const PID_TIMEOUT_MS = 15_000
const LOG_TAIL_LINES = 20

/** Ports from `start` up to, not including, `end`. */
export interface PortRange {
  readonly start: number
  readonly end: number
  /** Offsets from the port of other ports the server listens on, which must be free too. */
  readonly alsoFree?: readonly number[]
}

/** The user a server's commands run as, when it is not this process's. */
export interface ServerUser {
  readonly uid: number
  readonly gid: number
}

export interface ServerDirOptions {
  /** Names the dir: `ormcache-<name>-XXXXXX` in the system's temp dir. */
  readonly name: string
  /** The file in the dir that the commands' output is appended to. */
  readonly log: string
  /** Shell commands with which the watchdog ends the command, whose pid is `$server`, once this process is gone. */
  readonly killOrphan: string
  /** Runs each command in a process group of its own (setsid), which WatchedProcess.signal then signals whole. */
  readonly processGroup?: boolean
  /** Shell commands run before the dir, `$1`, is removed. */
  readonly beforeRemove?: string
  /** Runs the commands as this user, and gives it the dir. */
  readonly user?: ServerUser
}

/**
 * Calls `launch` with a free port of `range`, and again with another if the
 * server could not listen on it.
 */
export async function launchOnFreePort(range: PortRange, launch: (port: number) => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await launch(await pickFreePort(range))
      return
    } catch (error) {
      // Most likely a parallel test file took the port between our check and the bind: try another.
      if (!(error instanceof ServerExitedError && error.portInUse) || attempt === START_ATTEMPTS) throw error
    }
  }
}

// Runs a command as a child of a tiny shell that watches its stdin, a pipe
// from this process. If this process dies without cleaning up (vitest ends its
// workers with SIGTERM, which runs no exit handler), the pipe closes and the
// shell ends the command (`killOrphan`) and removes the dir. Arguments: the
// dir, the log file, then the command. Prints the command's pid, then exits
// with the command's status.
function ownerWatchdogScript({ killOrphan, processGroup, beforeRemove }: ServerDirOptions): string {
  return `${removeDirFunction(beforeRemove)}
dir=$1; log=$2; shift 2
exec 3<&0
${processGroup ? 'setsid ' : ''}"$@" 3<&- </dev/null >>"$log" 2>&1 &
server=$!
echo "$server"
{ read -r line <&3; : >"$dir/owner-gone"; ${killOrphan}; } >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$server"
status=$?
kill "$watcher" 2>/dev/null
wait "$watcher"
if [ -e "$dir/owner-gone" ]; then remove_dir "$dir"; fi
exit "$status"
`
}

// Watches the dir while nothing runs in it (after a set-up command, kill() or
// a failed start): removes it when its stdin closes, unless it has read a line
// first, which is how this process releases it. Argument: the dir.
function dirGuardScript({ beforeRemove }: ServerDirOptions): string {
  return `${removeDirFunction(beforeRemove)}
if ! read -r line; then remove_dir "$1"; fi
`
}

function removeDirFunction(beforeRemove = ''): string {
  return `
remove_dir() {
  ${beforeRemove}
  rm -rf "$1"
}
`
}

/** A server that exited before accepting connections. */
class ServerExitedError extends Error {
  /** It could not listen on its port: another process has it. */
  readonly portInUse: boolean

  constructor(name: string, port: number, log: string) {
    super(`${name} on port ${port} exited before accepting connections; its log ends:\n${log}`)
    this.portInUse = log.includes('Address already in use')
  }
}

/**
 * A server's temp dir, and the commands run in it. While a command runs, its
 * watchdog removes the dir if this process dies; while none does, a guard does.
 */
export class ServerDir {
  readonly path: string
  readonly logFile: string
  readonly #options: ServerDirOptions
  readonly #watchdogScript: string
  readonly #guardScript: string
  #guard: ChildProcess | undefined
  #removed = false

  constructor(options: ServerDirOptions) {
    // The real path: /proc reports working directories resolved, and servers report their data dirs
    // resolved, which the readiness checks compare.
    this.path = realpathSync(mkdtempSync(join(tmpdir(), `ormcache-${options.name}-`)))
    if (options.user) chownSync(this.path, options.user.uid, options.user.gid)
    this.logFile = join(this.path, options.log)
    this.#options = options
    this.#watchdogScript = ownerWatchdogScript(options)
    this.#guardScript = dirGuardScript(options)
  }

  /** Runs a command (a server's set-up) to its end; rejects if it fails or takes more than `timeoutMs`. */
  async run(command: string, args: readonly string[], timeoutMs: number): Promise<void> {
    const name = basename(command)
    const run = await this.#start(command, args)
    let status: number | null
    try {
      status = await withDeadline(run.waitForExit(), name, timeoutMs)
    } catch (error) {
      await run.kill()
      throw new Error(`${name} timed out; its output ends:\n${this.logTail()}`, { cause: error })
    }
    if (status !== 0) throw new Error(`${name} exited with ${status}; its output ends:\n${this.logTail()}`)
  }

  /**
   * Starts a server that listens on `port`, and resolves once `ready` (asked
   * until then; an error counts as not yet) holds. Rejects if the server exits
   * first, or kills it if it is not ready in `timeoutMs`.
   */
  async launch(
    command: string,
    args: readonly string[],
    port: number,
    timeoutMs: number,
    ready: () => Promise<boolean>,
  ): Promise<WatchedProcess> {
    const name = basename(command)
    const logStart = statSync(this.logFile, { throwIfNoEntry: false })?.size ?? 0
    const server = await this.#start(command, args)
    let lastError: unknown
    try {
      await until(
        async () => {
          if (!server.running) throw new ServerExitedError(name, port, this.logTail(logStart))
          try {
            return await ready()
          } catch (error) {
            lastError = error
            return false
          }
        },
        () =>
          `${name} on port ${port} to accept connections (last attempt: ${describeError(lastError)}); ` +
          `its log ends:\n${this.logTail(logStart)}`,
        timeoutMs,
      )
    } catch (error) {
      await server.kill()
      throw error
    }
    // A test that forgets stop() must not keep its worker alive; the watchdog still stops the server.
    server.unref()
    return server
  }

  /** The last lines of the log from byte `from` on. */
  logTail(from = 0): string {
    try {
      const text = readFileSync(this.logFile).subarray(from).toString('utf8').trim()
      return text === '' ? '(nothing)' : text.split('\n').slice(-LOG_TAIL_LINES).join('\n')
    } catch {
      return '(no log)'
    }
  }

  /** Removes the dir; what ran in it must have exited. */
  remove(): void {
    this.#removed = true
    this.#releaseGuard()
    rmSync(this.path, { recursive: true, force: true })
  }

  /** Runs a command under the watchdog, which takes over the dir from the guard; when it exits, the guard takes over again. */
  async #start(command: string, args: readonly string[]): Promise<WatchedProcess> {
    let watched: WatchedProcess
    try {
      watched = await WatchedProcess.start(this.#watchdogScript, this.path, this.logFile, command, args, this.#options)
    } catch (error) {
      this.#guardDir()
      throw error
    }
    this.#releaseGuard()
    // Registered before anyone can wait for the exit, so the guard is in place when they resume.
    void watched.exited.then(() => this.#guardDir())
    return watched
  }

  #guardDir(): void {
    if (this.#guard || this.#removed) return
    const guard = spawn('sh', ['-c', this.#guardScript, 'sh', this.path], {
      cwd: this.path,
      stdio: ['pipe', 'ignore', 'ignore'],
      ...this.#options.user,
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
}

/** A command run under the owner watchdog (see ServerDir). */
export class WatchedProcess {
  /** The command's pid (the watchdog shell's child); with `processGroup`, also its process group's id. */
  readonly pid: number
  /** Resolves with the command's exit status once it has exited; holds no event loop open. */
  readonly exited: Promise<number | null>
  readonly #wrapper: ChildProcess
  readonly #processGroup: boolean
  #running = true

  private constructor(wrapper: ChildProcess, pid: number, exited: Promise<number | null>, processGroup: boolean) {
    this.#wrapper = wrapper
    this.pid = pid
    this.exited = exited
    this.#processGroup = processGroup
    void exited.then(() => {
      this.#running = false
    })
  }

  static async start(
    script: string,
    dir: string,
    logFile: string,
    command: string,
    args: readonly string[],
    { user, processGroup = false }: ServerDirOptions,
  ): Promise<WatchedProcess> {
    const wrapper = spawn('sh', ['-c', script, 'sh', dir, logFile, command, ...args], {
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
      const pid = await withDeadline(readPid(wrapper), `the ${command} wrapper to print its pid`, PID_TIMEOUT_MS)
      return new WatchedProcess(wrapper, pid, exited, processGroup)
    } catch (error) {
      wrapper.kill('SIGKILL')
      throw error
    }
  }

  get running(): boolean {
    return this.#running
  }

  /** Signals the command or, with `processGroup`, its process group: the command and what it started. */
  signal(signal: NodeJS.Signals): void {
    if (!this.#running) return
    if (this.#processGroup) {
      try {
        process.kill(-this.pid, signal)
        return
      } catch {
        // setsid has not made the group yet, so the command has started nothing yet either.
      }
    }
    signalQuietly(this.pid, signal)
  }

  /** SIGKILL, as a crash would; resolves once the command has exited. */
  async kill(): Promise<void> {
    this.signal('SIGKILL')
    await this.waitForExit()
  }

  /** Sends `signal`, the command's own shutdown, and SIGKILL if it has not exited within STOP_GRACE_MS. */
  async stop(signal: NodeJS.Signals): Promise<void> {
    this.signal(signal)
    const graceful = await withDeadline(this.waitForExit(), 'a shutdown', STOP_GRACE_MS).then(
      () => true,
      () => false,
    )
    if (!graceful) await this.kill()
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

/** The processes whose working directory is `dir` or below it: a server moves into its (data) dir; its children inherit it. */
export function processesIn(dir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`)
      if (cwd === dir || cwd.startsWith(`${dir}/`)) pids.push(Number(entry))
    } catch {
      // Gone since the listing, a zombie (which has no working directory), or another user's.
    }
  }
  return pids
}

export function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // It died on its own; its exit has not been noticed yet.
  }
}

async function pickFreePort({ start, end, alsoFree = [] }: PortRange): Promise<number> {
  for (;;) {
    const port = start + Math.floor(Math.random() * (end - start))
    const ports = [port, ...alsoFree.map((offset) => port + offset)]
    if ((await Promise.all(ports.map(isPortFree))).every(Boolean)) return port
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

function describeError(error: unknown): string {
  if (error === undefined) return 'none failed'
  return error instanceof Error ? error.message : String(error)
}
