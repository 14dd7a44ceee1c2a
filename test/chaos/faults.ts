// Faults injected into a coherence checker run, each on a Redis of its own
// (never the shared one): how the Redis is started, and when and how it is
// broken. `runChaos({ fault })` starts it, runs `inject` alongside the
// workers and summarizes the run around the fault windows.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { CacheStats } from '../../src/index.js'
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../helpers/redis-server.js'
import { percentile, type ReadRecord } from './history.js'
import type { ChaosReport } from './run.js'
import type { FromWorker, Orm, RedisTarget } from './worker.js'

/** A span of wall time (`performance.timeOrigin + performance.now()`) during which Redis was broken. */
export interface FaultWindow {
  readonly label: string
  readonly from: number
  readonly to: number
}

/** The Redis a fault runs on, started by the fault and stopped by the run. */
export interface FaultServers {
  readonly target: RedisTarget
  /** The server (one-server faults) or the cluster's nodes. */
  readonly nodes: readonly RedisServer[]
  stop(): Promise<void>
}

/** Resolves `fraction` of the run's duration after the workers start. */
export type At = (fraction: number) => Promise<void>

/** What a worker said as it died: the lock it held, the writes it had under way. */
export type Dying = Extract<FromWorker, { type: 'dying' }>

/** The run a fault is injected into. */
export interface FaultRun {
  readonly durationMs: number
  /** SIGKILLs worker `index` at its next load, while it holds that key's stampede lock. */
  killWorkerHoldingLock(index: number): Promise<Dying>
}

export interface Fault {
  readonly name: string
  /** What is broken, for the summary table. */
  readonly description: string
  /** The worker processes, when the fault needs particular ones. */
  readonly workers?: readonly Orm[]
  start(): Promise<FaultServers>
  /** Breaks Redis at the chosen moments; resolves, with the windows it broke it for, before the run ends. */
  inject(at: At, servers: FaultServers, run: FaultRun): Promise<FaultWindow[]>
}

const now = () => performance.timeOrigin + performance.now()

async function during(label: string, fault: () => Promise<void>): Promise<FaultWindow> {
  const from = now()
  await fault()
  return { label, from, to: now() }
}

async function oneServer(args: readonly string[] = []): Promise<FaultServers> {
  const server = await startRedis({ args })
  return { target: { url: server.url }, nodes: [server], stop: () => server.stop() }
}

async function cluster(): Promise<FaultServers> {
  const started: RedisCluster = await startRedisCluster()
  return { target: { cluster: started.startupNodes }, nodes: started.nodes, stop: () => started.stop() }
}

/** A command on a connection of its own that gives up at once when the server is gone. */
async function admin<T>(server: RedisServer, command: (client: Redis) => Promise<T>): Promise<T> {
  const client = server.client({ maxRetriesPerRequest: 0, retryStrategy: () => null })
  try {
    return await command(client)
  } finally {
    client.disconnect()
  }
}

const first = (servers: FaultServers) => servers.nodes[0]!

/** Killed as a crash would, down for a while, then back empty (every entry and tag version gone). */
export function killAndRestart(downFraction = 0.2): Fault {
  return {
    name: 'kill -9 and restart empty',
    description: `redis-server SIGKILLed at 30% of the run, restarted empty ${downFraction * 100}% of the run later`,
    start: () => oneServer(),
    async inject(at, servers, { durationMs }) {
      await at(0.3)
      const server = first(servers)
      return [
        await during('down', async () => {
          await server.kill()
          await sleep(downFraction * durationMs)
          await server.restart()
        }),
      ]
    },
  }
}

/** Every command waits (CLIENT PAUSE), then the server itself is busy (DEBUG SLEEP), each longer than the timeout. */
export function pauseAndSleep(stallMs: number): Fault {
  return {
    name: 'CLIENT PAUSE, DEBUG SLEEP',
    description: `CLIENT PAUSE ${stallMs} ms ALL at 25%, DEBUG SLEEP ${stallMs / 1_000} s at 60% of the run`,
    start: () => oneServer(['--enable-debug-command', 'yes']),
    async inject(at, servers) {
      const server = first(servers)
      await at(0.25)
      const paused = await during('paused', async () => {
        await server.pause(stallMs)
        await sleep(stallMs)
      })
      await at(0.6)
      const slept = await during('debug sleep', () =>
        admin(server, (client) => client.call('DEBUG', 'SLEEP', String(stallMs / 1_000))).then(() => {}),
      )
      return [paused, slept]
    },
  }
}

/** The subscriber connections are cut (CLIENT KILL TYPE pubsub) while every other command works. */
export function killPubSub(times = 3): Fault {
  return {
    name: 'pub/sub connections killed',
    description: `CLIENT KILL TYPE pubsub ${times} times, at 20%–70% of the run`,
    start: () => oneServer(),
    async inject(at, servers, { durationMs }) {
      const server = first(servers)
      const windows: FaultWindow[] = []
      for (let index = 0; index < times; index++) {
        await at(0.2 + (0.5 * index) / Math.max(1, times - 1))
        // The window lasts until every worker has subscribed again: no subscriber left means not yet.
        windows.push(
          await during(`pubsub kill ${index + 1}`, async () => {
            const killed = await admin(server, (client) => client.call('CLIENT', 'KILL', 'TYPE', 'pubsub'))
            if (Number(killed) === 0) throw new Error('CLIENT KILL TYPE pubsub killed no connection')
            const deadline = now() + 0.1 * durationMs
            while (now() < deadline && (await subscribers(server)) < Number(killed)) await sleep(10)
          }),
        )
      }
      return windows
    },
  }
}

async function subscribers(server: RedisServer): Promise<number> {
  const list = await admin(server, (client) => client.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
  return String(list).split('\n').filter(Boolean).length
}

/** From mid-run, memory a little above what is used: every write evicts something, entries and tag versions alike. */
export function maxMemoryLru(headroomBytes = 8 * 1024): Fault {
  return {
    name: 'maxmemory allkeys-lru',
    description: `at 30% of the run maxmemory set to used memory + ${headroomBytes / 1024} KiB, allkeys-lru, to the end`,
    start: () => oneServer(['--maxmemory-policy', 'allkeys-lru']),
    async inject(at, servers) {
      const server = first(servers)
      await at(0.3)
      return [
        await during('evicting', async () => {
          const info = await admin(server, (client) => client.info('memory'))
          const used = Number(/used_memory:(\d+)/.exec(info)?.[1])
          await admin(server, (client) => client.config('SET', 'maxmemory', String(used + headroomBytes)))
          await at(0.95)
          const evicted = await admin(server, (client) => client.info('stats'))
          if (Number(/evicted_keys:(\d+)/.exec(evicted)?.[1]) === 0) throw new Error('maxmemory evicted no key')
        }),
      ]
    },
  }
}

/** One node of a 3-master cluster (no replicas: its slots are unavailable meanwhile) killed and restarted. */
export function clusterNodeRestart(downFraction = 0.15): Fault {
  return {
    name: 'cluster node restarted',
    description: `3-master cluster; one master SIGKILLed at 30% of the run, restarted ${downFraction * 100}% later`,
    start: () => cluster(),
    async inject(at, servers, { durationMs }) {
      await at(0.3)
      const node = servers.nodes[1]!
      return [
        await during('node down', async () => {
          await node.kill()
          await sleep(downFraction * durationMs)
          await node.restart()
        }),
      ]
    },
  }
}

/**
 * A Prisma worker SIGKILLed while it holds a stampede lock; another Prisma
 * worker reads the same keys, so it meets that lock and must stop waiting.
 * The window lasts `waitFraction` of the run after the death.
 */
export function workerKilledHoldingLock(waitFraction = 0.2): Fault {
  return {
    name: 'worker SIGKILLed holding the lock',
    description: `one of two Prisma workers SIGKILLed at its first load after 40% of the run, its stampede lock left in Redis`,
    workers: ['prisma', 'typeorm', 'prisma'],
    start: () => oneServer(),
    async inject(at, servers, { durationMs, killWorkerHoldingLock }) {
      await at(0.4)
      const dying = await killWorkerHoldingLock(0)
      const lockLeft = await admin(first(servers), (client) => client.exists(dying.lockKey))
      if (lockLeft !== 1) throw new Error(`the killed worker's lock ${dying.lockKey} was not in Redis`)
      await sleep(waitFraction * durationMs)
      return [{ label: `lock ${dying.lockKey} orphaned`, from: dying.at, to: now() }]
    },
  }
}

export function allFaults(stallMs: number): Fault[] {
  return [
    killAndRestart(),
    pauseAndSleep(stallMs),
    killPubSub(),
    maxMemoryLru(),
    clusterNodeRestart(),
    workerKilledHoldingLock(),
  ]
}

export interface FaultSummary {
  readonly name: string
  readonly description: string
  readonly staleReads: number
  readonly lostWrites: number
  readonly failedRequests: number
  readonly reads: number
  readonly readsDuringFault: number
  readonly faultMs: number
  readonly timeoutMs: number
  /** Read latency (ms) of the reads that overlapped a fault window. */
  readonly duringFault: { readonly p99: number; readonly max: number }
  /** Latency (ms) of the reads the database served outside the fault windows: the uncached cost. */
  readonly uncached: { readonly p50: number; readonly p99: number }
  readonly circuitOpens: number
  readonly redisErrors: number
  readonly lockTimeouts: number
  /** Writes under way in a killed worker, and how many of their rows the database shows committed. */
  readonly inFlightWrites: number
  readonly inFlightRowsCommitted: number
}

const overlaps = (read: ReadRecord, windows: readonly FaultWindow[]) =>
  windows.some((window) => read.start < window.to && read.end > window.from)

const total = (stats: readonly CacheStats[], field: 'circuitOpens' | 'redisErrors' | 'lockTimeouts') =>
  stats.reduce((sum, one) => sum + one[field], 0)

export function summarizeFault(
  fault: Fault,
  report: ChaosReport,
  windows: readonly FaultWindow[],
  timeoutMs: number,
): FaultSummary {
  const { reads } = report.history
  const during = reads.filter((read) => overlaps(read, windows)).map((read) => read.end - read.start)
  const uncached = reads
    .filter((read) => read.origin === 'database' && !overlaps(read, windows))
    .map((read) => read.end - read.start)
  return {
    name: fault.name,
    description: fault.description,
    staleReads: report.violations.length,
    lostWrites: report.lostWrites.length,
    failedRequests: Object.values(report.failures).reduce((sum, failure) => sum + failure.count, 0),
    reads: report.reads,
    readsDuringFault: during.length,
    faultMs: windows.reduce((sum, window) => sum + window.to - window.from, 0),
    timeoutMs,
    duringFault: { p99: percentile(during, 99), max: during.length === 0 ? Number.NaN : Math.max(...during) },
    uncached: { p50: percentile(uncached, 50), p99: percentile(uncached, 99) },
    circuitOpens: total(report.stats, 'circuitOpens'),
    redisErrors: total(report.stats, 'redisErrors'),
    lockTimeouts: total(report.stats, 'lockTimeouts'),
    inFlightWrites: report.inFlightWrites.length,
    inFlightRowsCommitted: report.inFlightRowsCommitted,
  }
}

const ms = (value: number) => (Number.isNaN(value) ? '–' : value.toFixed(0))

const inFlightNote = (s: FaultSummary) =>
  s.inFlightWrites === 0
    ? ''
    : ` (${s.inFlightWrites} writes in flight at its death, ${s.inFlightRowsCommitted} of their row bumps committed)`

/** The summaries as a Markdown table. */
export function faultTable(summaries: readonly FaultSummary[]): string {
  const header = [
    '| fault | stale reads | lost writes | failed requests | reads (during fault) | fault ms | read p99 / max during fault, ms | timeout; uncached p50 / p99, ms | circuit opens | Redis errors | lock timeouts |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  const rows = summaries.map(
    (s) =>
      `| ${s.name}: ${s.description}${inFlightNote(s)} | ${s.staleReads} | ${s.lostWrites} | ${s.failedRequests} | ${s.reads} (${s.readsDuringFault}) | ${ms(s.faultMs)} | ${ms(s.duringFault.p99)} / ${ms(s.duringFault.max)} | ${s.timeoutMs}; ${ms(s.uncached.p50)} / ${ms(s.uncached.p99)} | ${s.circuitOpens} | ${s.redisErrors} | ${s.lockTimeouts} |`,
  )
  return [...header, ...rows].join('\n')
}
