// Extra redis-server processes for tests that kill, pause or restart Redis,
// or need a cluster. Each runs on its own port with its own temp dir and no
// persistence, and dies with the test process however that process ends.
import { execFile } from 'node:child_process'
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import { until } from '../fixtures/wait.js'
import { useResource } from './lifecycle.js'
import { HOST, launchOnFreePort, type PortRange, ServerDir, type WatchedProcess } from './server-process.js'

// Ports below Linux's ephemeral range (32768+), so no outgoing connection holds
// them, with room for a cluster node's bus port (port + 10000) below it too.
const PORTS: PortRange = { start: 12000, end: 22000 }
const CLUSTER_BUS_PORT_OFFSET = 10000
const CLUSTER_NODE_PORTS: PortRange = { ...PORTS, alsoFree: [CLUSTER_BUS_PORT_OFFSET] }
const CLUSTER_SLOTS = 16384
const READY_TIMEOUT_MS = 10_000
const CLUSTER_READY_TIMEOUT_MS = 30_000

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
    await until(
      async () => {
        const states = await Promise.all(nodes.map((node) => clusterIsHealthy(node.port, nodes.length)))
        return states.every(Boolean)
      },
      'the cluster to report cluster_state:ok on every node',
      CLUSTER_READY_TIMEOUT_MS,
    )
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

class RedisServerProcess implements RedisServer {
  // SIGKILL when this process is gone: nothing of a test's Redis is worth saving, and it also ends a
  // server that a test has SIGSTOPped.
  readonly #dir = new ServerDir({ name: 'redis', log: 'redis.log', killOrphan: 'kill -KILL "$server"' })
  readonly #args: readonly string[]
  readonly #clients = new Set<Redis>()
  #port = 0
  #server: WatchedProcess | undefined
  #stopped: Promise<void> | undefined

  constructor(args: readonly string[]) {
    this.#args = args
  }

  get port(): number {
    return this.#port
  }

  get url(): string {
    return `redis://${HOST}:${this.#port}`
  }

  get pid(): number | undefined {
    return this.running ? this.#server?.pid : undefined
  }

  get running(): boolean {
    return this.#server?.running ?? false
  }

  /** Starts redis-server on `port` and resolves once it answers PING; rejects if it exits first. */
  async launch(port: number): Promise<void> {
    this.#port = port
    const args = [
      ...['--port', String(port), '--bind', HOST, '--dir', this.#dir.path],
      ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      ...this.#args,
    ]
    this.#server = await this.#dir.launch(
      'redis-server',
      args,
      port,
      READY_TIMEOUT_MS,
      async () => (await adminCommand(port, 'PING')) === 'PONG',
    )
  }

  client(options?: RedisOptions): Redis {
    const client = new Redis({ host: HOST, port: this.#port, ...options })
    this.#clients.add(client)
    return client
  }

  async kill(): Promise<void> {
    await this.#server?.kill()
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error(`redis-server on port ${this.#port} was stopped; start a new one instead`)
    await this.kill()
    // The port was just freed; another process could still take it, so retry briefly.
    await retry(3, () => this.launch(this.#port))
  }

  async pause(ms: number): Promise<void> {
    await adminCommand(this.#port, 'CLIENT', 'PAUSE', String(ms), 'ALL')
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop()
    return this.#stopped
  }

  async #stop(): Promise<void> {
    for (const client of this.#clients) disconnectQuietly(client)
    this.#clients.clear()
    await this.#server?.stop('SIGTERM')
    this.#dir.remove()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }
}

async function startOnFreePort(args: readonly string[], clusterNode: boolean): Promise<RedisServerProcess> {
  const clusterArgs = clusterNode ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] : []
  const server = new RedisServerProcess([...clusterArgs, ...args])
  try {
    await launchOnFreePort(clusterNode ? CLUSTER_NODE_PORTS : PORTS, (port) => server.launch(port))
    return server
  } catch (error) {
    await server.stop()
    throw error
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

/** False also while the node cannot be asked. */
async function clusterIsHealthy(port: number, nodeCount: number): Promise<boolean> {
  const info = await adminCommand(port, 'CLUSTER', 'INFO').catch(() => '')
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
