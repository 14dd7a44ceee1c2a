// Extra redis-server processes for tests that kill, pause or restart Redis,
// or need a cluster. Each runs on its own port with its own temp dir and no
// persistence, and dies with the test process however that process ends.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import { withDeadline } from '../fixtures/wait.js'
import { useResource } from './lifecycle.js'

const HOST = '127.0.0.1'
// Ports below Linux's ephemeral range (32768+), so no outgoing connection holds
// them, with room for a cluster node's bus port (port + 10000) below it too.
const PORT_RANGE_START = 12000
const PORT_RANGE_END = 22000
const CLUSTER_BUS_PORT_OFFSET = 10000
const CLUSTER_SLOTS = 16384
const START_ATTEMPTS = 20
const READY_TIMEOUT_MS = 10_000
const CLUSTER_READY_TIMEOUT_MS = 30_000
const STOP_GRACE_MS = 5_000
const POLL_INTERVAL_MS = 25

export interface RedisServerOptions {
  /** Extra redis-server arguments, e.g. `['--maxmemory', '1mb']`. */
  args?: readonly string[]
}

export interface RedisServer extends AsyncDisposable {
  readonly port: number
  readonly url: string
  /** The redis-server process id, or undefined while it is not running. */
  readonly pid: number | undefined
  readonly running: boolean
  /** A new ioredis client for this server; disconnected by `stop()`. */
  client(options?: RedisOptions): Redis
  /** SIGKILL, as a crash would; returns once the process is gone. Clients are left to notice. */
  kill(): Promise<void>
  /** Starts the server again on the same port (killing it first if running). It comes back empty. */
  restart(): Promise<void>
  /** `CLIENT PAUSE <ms> ALL`: every client's commands wait until the pause ends. */
  pause(ms: number): Promise<void>
  /** Disconnects the clients, stops the process and removes its dir; safe to call twice. */
  stop(): Promise<void>
}

export interface RedisCluster extends AsyncDisposable {
  readonly nodes: readonly RedisServer[]
  /** For `new Cluster(startupNodes)`. */
  readonly startupNodes: readonly { host: string; port: number }[]
  /** A new ioredis `Cluster` client; disconnected by `stop()`. */
  client(options?: ClusterOptions): Cluster
  stop(): Promise<void>
}

/** Starts a redis-server on a free port; the caller stops it (see `disposeAfterTest`, `useRedisServer`). */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  return startOnFreePort(options.args ?? [], false)
}

/** Starts a 3-master Redis Cluster and waits until every node reports `cluster_state:ok`. */
export async function startRedisCluster(options: RedisServerOptions = {}): Promise<RedisCluster> {
  const nodes: RedisServerProcess[] = []
  const clients: Cluster[] = []
  const stop = async () => {
    for (const client of clients.splice(0)) disconnectQuietly(client)
    await Promise.all(nodes.map((node) => node.stop()))
  }
  try {
    for (let index = 0; index < 3; index++) nodes.push(await startOnFreePort(options.args ?? [], true))
    await createCluster(nodes.map((node) => node.port))
    await waitUntil('the cluster reports cluster_state:ok on every node', CLUSTER_READY_TIMEOUT_MS, async () => {
      const states = await Promise.all(nodes.map((node) => clusterIsHealthy(node.port, nodes.length)))
      return states.every(Boolean)
    })
  } catch (error) {
    await stop()
    throw error
  }
  const startupNodes = nodes.map((node) => ({ host: HOST, port: node.port }))
  return {
    nodes,
    startupNodes,
    client(clientOptions?: ClusterOptions) {
      const client = new Cluster(startupNodes, clientOptions)
      clients.push(client)
      return client
    },
    stop,
    [Symbol.asyncDispose]: stop,
  }
}

/** At file or `describe` level: a server for the block's tests, stopped in `afterAll`. */
export function useRedisServer(options: RedisServerOptions = {}): () => RedisServer {
  return useResource(() => startRedis(options))
}

/** At file or `describe` level: a cluster for the block's tests, stopped in `afterAll`. */
export function useRedisCluster(options: RedisServerOptions = {}): () => RedisCluster {
  return useResource(() => startRedisCluster(options))
}

// Runs the server as a child of a tiny shell that watches its stdin, a pipe
// from this process. If this process dies without cleaning up (vitest ends its
// workers with SIGTERM, which runs no exit handler), the pipe closes and the
// shell kills the server and removes its dir. Arguments: the dir, then the
// server command. Prints the server's pid, then exits with the server's status.
export const OWNER_WATCHDOG_SCRIPT = `
dir=$1; shift
exec 3<&0
"$@" 3<&- </dev/null >>"$dir/redis.log" 2>&1 &
server=$!
echo "$server"
{ cat <&3 >/dev/null 2>&1; : >"$dir/owner-gone"; kill -9 "$server" 2>/dev/null; } >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$server"
status=$?
kill "$watcher" 2>/dev/null
if [ -e "$dir/owner-gone" ]; then rm -rf "$dir"; fi
exit "$status"
`

class ServerExitedError extends Error {}

const liveServers = new Set<RedisServerProcess>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // For a process that exits normally without stopping its servers (outside vitest); only sync work is possible here.
  process.once('exit', () => {
    for (const server of liveServers) {
      server.killNow()
      server.removeDir()
    }
  })
}

class RedisServerProcess implements RedisServer {
  readonly port: number
  readonly url: string
  readonly #dir: string
  readonly #args: readonly string[]
  readonly #clients = new Set<Redis>()
  #pid: number | undefined
  #wrapper: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  #stopped = false

  constructor(port: number, args: readonly string[]) {
    this.port = port
    this.url = `redis://${HOST}:${port}`
    this.#dir = mkdtempSync(join(tmpdir(), `ormcache-redis-${port}-`))
    this.#args = args
  }

  get pid(): number | undefined {
    return this.#pid
  }

  get running(): boolean {
    return this.#pid !== undefined
  }

  /** Spawns the process and resolves once it answers PING; rejects if it exits first. */
  async launch(): Promise<void> {
    liveServers.add(this)
    installExitHook()
    const logFile = join(this.#dir, 'redis.log')
    const serverArgs = [
      ...['--port', String(this.port), '--bind', HOST, '--dir', this.#dir],
      ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      ...this.#args,
    ]
    const wrapper = spawn('sh', ['-c', OWNER_WATCHDOG_SCRIPT, 'sh', this.#dir, 'redis-server', ...serverArgs], {
      // The shell's own stderr would only say "Killed"; the server's output goes to its log file.
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    this.#wrapper = wrapper
    let exited = false
    this.#exited = new Promise((resolve) => {
      wrapper.once('exit', () => {
        exited = true
        this.#pid = undefined
        // Ends the watchdog's `cat`, which would otherwise wait for this process to exit.
        wrapper.stdin?.destroy()
        resolve()
      })
    })
    const pid = await withDeadline(
      readPid(wrapper),
      'the redis-server wrapper to print its pid',
      READY_TIMEOUT_MS,
    ).catch((error: unknown) => {
      wrapper.kill('SIGKILL')
      throw error
    })
    if (!exited) this.#pid = pid
    try {
      await waitUntil(`redis-server on port ${this.port} answers PING`, READY_TIMEOUT_MS, async () => {
        if (exited) throw new ServerExitedError(`redis-server on port ${this.port} exited:\n${readLog(logFile)}`)
        return ping(this.port)
      })
    } catch (error) {
      await this.kill()
      throw error
    }
    // A test that forgets stop() must not keep its worker alive; the exit hook still kills the server.
    wrapper.unref()
    for (const stream of [wrapper.stdin, wrapper.stdout]) if (stream instanceof Socket) stream.unref()
  }

  client(options?: RedisOptions): Redis {
    const client = new Redis({ host: HOST, port: this.port, ...options })
    this.#clients.add(client)
    return client
  }

  async kill(): Promise<void> {
    this.killNow()
    await this.#waitForExit()
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error(`redis-server on port ${this.port} was stopped; start a new one instead`)
    await this.kill()
    // The port was just freed; another process could still take it, so retry briefly.
    await retry(3, () => this.launch())
  }

  async pause(ms: number): Promise<void> {
    await adminCommand(this.port, 'CLIENT', 'PAUSE', String(ms), 'ALL')
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    for (const client of this.#clients) disconnectQuietly(client)
    this.#clients.clear()
    if (this.#pid !== undefined) {
      this.#signal('SIGTERM')
      let graceTimer: NodeJS.Timeout | undefined
      const graceOver = new Promise<false>((resolve) => {
        graceTimer = setTimeout(() => resolve(false), STOP_GRACE_MS)
      })
      const graceful = await Promise.race([this.#waitForExit().then(() => true), graceOver])
      clearTimeout(graceTimer)
      if (!graceful) await this.kill()
    }
    liveServers.delete(this)
    this.removeDir()
  }

  removeDir(): void {
    rmSync(this.#dir, { recursive: true, force: true })
  }

  /** Synchronous SIGKILL, usable from an exit handler. */
  killNow(): void {
    this.#signal('SIGKILL')
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.#pid === undefined) return
    try {
      process.kill(this.#pid, signal)
    } catch {
      // It died on its own; the exit event has not been processed yet.
    }
  }

  // The wrapper is unref'd once started; while someone waits for its exit it must hold the event loop open.
  async #waitForExit(): Promise<void> {
    this.#wrapper?.ref()
    await this.#exited
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }
}

async function startOnFreePort(args: readonly string[], clusterNode: boolean): Promise<RedisServerProcess> {
  const clusterArgs = clusterNode ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] : []
  let lastError: unknown
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = await pickPort(clusterNode)
    const server = new RedisServerProcess(port, [...clusterArgs, ...args])
    try {
      await server.launch()
      return server
    } catch (error) {
      // Most likely a parallel test file took the port between our check and the bind.
      lastError = error
      await server.stop()
    }
  }
  throw new Error(`Could not start redis-server after ${START_ATTEMPTS} attempts`, { cause: lastError })
}

async function pickPort(needsBusPort: boolean): Promise<number> {
  for (;;) {
    const port = PORT_RANGE_START + Math.floor(Math.random() * (PORT_RANGE_END - PORT_RANGE_START))
    if (!(await isPortFree(port))) continue
    if (needsBusPort && !(await isPortFree(port + CLUSTER_BUS_PORT_OFFSET))) continue
    return port
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
    wrapper.once('exit', (code) => reject(new Error(`redis-server wrapper exited with ${code} before starting`)))
  })
}

function readLog(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n')
  } catch {
    return '(no log)'
  }
}

async function createCluster(ports: readonly number[]): Promise<void> {
  const addresses = ports.map((port) => `${HOST}:${port}`)
  const args = ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']
  await new Promise<void>((resolve, reject) => {
    execFile('redis-cli', args, { timeout: CLUSTER_READY_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli --cluster create failed:\n${stdout}${stderr}`, { cause: error }))
      else resolve()
    })
  })
}

async function clusterIsHealthy(port: number, nodeCount: number): Promise<boolean> {
  const info = await adminCommand(port, 'CLUSTER', 'INFO')
  const fields = new Map(
    info
      .split(/\r?\n/)
      .map((line) => line.split(':') as [string, string | undefined])
      .map(([key, value]) => [key, value?.trim()]),
  )
  return (
    fields.get('cluster_state') === 'ok' &&
    fields.get('cluster_slots_ok') === String(CLUSTER_SLOTS) &&
    fields.get('cluster_known_nodes') === String(nodeCount)
  )
}

async function ping(port: number): Promise<boolean> {
  try {
    return (await adminCommand(port, 'PING')) === 'PONG'
  } catch {
    return false
  }
}

// A one-shot connection that never retries or queues: admin commands must
// fail fast when the server is down, not wait for it to come back.
async function adminCommand(port: number, command: string, ...args: string[]): Promise<string> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    return String(await client.call(command, ...args))
  } finally {
    client.disconnect()
  }
}

// Not awaited: a client that is between reconnect attempts never emits 'end'.
function disconnectQuietly(client: Redis | Cluster): void {
  client.on('error', () => {})
  client.disconnect()
}

async function waitUntil(what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      if (await condition()) return
      lastError = undefined
    } catch (error) {
      if (error instanceof ServerExitedError) throw error
      lastError = error
    }
    await delay(POLL_INTERVAL_MS)
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting until ${what}`, { cause: lastError })
}

async function retry<T>(attempts: number, action: () => Promise<T>): Promise<T> {
  let lastError: unknown
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await action()
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
