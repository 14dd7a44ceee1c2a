// Faults injected into a coherence checker run, each on a Redis of its own
// (never the shared one): how the Redis is started, and when and how it is
// broken. `runChaos({ fault })` starts it, runs `inject` alongside the
// workers and summarizes the run around the fault windows.
import { type ChildProcess, spawn } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { CacheStats } from '../../src/index.js'
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../helpers/redis-server.js'
import { percentile, type ReadRecord } from './history.js'
import type { ChaosReport } from './run.js'
import type { FromWorker, Orm, RedisTarget, StallPoint } from './worker.js'

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
/** What a worker said as it stopped itself (SIGSTOP). */
export type Stalling = Extract<FromWorker, { type: 'stalling' }>

/** The run a fault is injected into. */
export interface FaultRun {
  readonly durationMs: number
  /** SIGKILLs worker `index` at its next load, while it holds that key's stampede lock. */
  killWorkerHoldingLock(index: number): Promise<Dying>
  /** SIGSTOPs worker `index` for `ms` at its next operation that reaches `when`; resolves once it runs again. */
  stallWorker(index: number, when: StallPoint, ms: number): Promise<FaultWindow>
}

export interface Fault {
  readonly name: string
  /** What is broken, for the summary table. */
  readonly description: string
  /** The worker processes, when the fault needs particular ones. */
  readonly workers?: readonly Orm[]
  /** The workers' cache `timeout` in ms, when the fault needs a particular one. */
  readonly cacheTimeoutMs?: number
  /** Operations in flight at once per worker, when the fault needs more than the default. */
  readonly concurrency?: number
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

/**
 * Processes that keep every core busy for `ms`, started at once. Each ends by itself at its deadline,
 * or as soon as it finds its parent gone, so none outlives the run however the run ends.
 */
function busyLoops(count: number, ms: number): { readonly done: Promise<void>; stop(): void } {
  const script = `const parent = process.ppid, end = Date.now() + ${Math.round(ms)}
let turns = 0
while (Date.now() < end) if ((++turns & 0xfffff) === 0 && process.ppid !== parent) break`
  const children: ChildProcess[] = []
  for (let index = 0; index < count; index++) {
    children.push(spawn(process.execPath, ['-e', script], { stdio: 'ignore' }))
  }
  const exits = children.map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve()
        else child.once('exit', () => resolve())
      }),
  )
  return {
    done: Promise.all(exits).then(() => {}),
    stop: () => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    },
  }
}

/**
 * The machine starved of CPU, as by other jobs: three busy loops per core for 60% of the run, the
 * workers, Redis and PostgreSQL competing with them. Meanwhile workers are stopped (SIGSTOP, as the
 * OS leaves a starved process unscheduled): two in a committed write, before its invalidation is
 * sent and after (reply unread); two with a load under way, which their other reads may join when
 * they run again. Then Redis itself is stopped for twice the timeout: invalidations time out, and
 * wait in its socket. The workers keep the default cache timeout, what users run with.
 */
export function cpuStarvation(stallMs = 1_500): Fault {
  const cores = availableParallelism()
  const loops = 3 * cores
  const timeoutMs = 250
  const redisStopMs = 2 * timeoutMs
  return {
    name: 'CPU starvation, processes stopped',
    description: `${loops} busy loops on ${cores} cores from 20% to 80% of the run; meanwhile 4 workers SIGSTOPped in turn for up to ${stallMs} ms (in a committed write, before its invalidation is sent and after; with a load under way), then redis-server for ${redisStopMs} ms`,
    workers: ['prisma', 'typeorm', 'prisma', 'typeorm'],
    // Several requests in flight per process, as in an app server: reads of a hot key join each other's loads.
    concurrency: 6,
    cacheTimeoutMs: timeoutMs,
    start: () => oneServer(),
    async inject(at, servers, { durationMs, stallWorker }) {
      const stall = Math.min(stallMs, durationMs / 12)
      const server = first(servers)
      await at(0.2)
      const from = now()
      const spinning = busyLoops(loops, 0.6 * durationMs)
      try {
        const windows: FaultWindow[] = []
        const stalls: [number, StallPoint][] = [
          [0, 'before-invalidation'],
          [1, 'invalidation-sent'],
          [2, 'mid-load'],
          [3, 'mid-load'],
        ]
        for (const [index, [worker, when]] of stalls.entries()) {
          await at(0.25 + 0.1 * index)
          windows.push(await stallWorker(worker, when, stall))
        }
        await at(0.7)
        windows.push(await during(`redis-server stopped ${redisStopMs} ms`, () => stopProcess(server.pid, redisStopMs)))
        await spinning.done
        return [{ label: 'cores saturated', from, to: now() }, ...windows]
      } finally {
        spinning.stop()
      }
    },
  }
}

/** SIGSTOP, then SIGCONT `ms` later (also if the wait is cut short). */
async function stopProcess(pid: number | undefined, ms: number): Promise<void> {
  if (pid === undefined) throw new Error('the process to stop is not running')
  process.kill(pid, 'SIGSTOP')
  try {
    await sleep(ms)
  } finally {
    process.kill(pid, 'SIGCONT')
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
    cpuStarvation(),
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
  /** Writes that returned before Redis had their invalidation, and the longest until it had (ms after the write returned). */
  readonly lateInvalidations: number
  readonly lateInvalidationMaxMs: number
  /** Reads of another process behind such a write (allowed until Redis had its invalidation). */
  readonly readsBehindLate: number
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
    lateInvalidations: report.lateInvalidations.count,
    lateInvalidationMaxMs: report.lateInvalidations.maxMs,
    readsBehindLate: report.readsBehindLate,
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
    '| fault | stale reads | lost writes | failed requests | reads (during fault) | fault ms | read p99 / max during fault, ms | timeout; uncached p50 / p99, ms | circuit opens | Redis errors | lock timeouts | writes returned before Redis had their invalidation (longest until it had, ms; reads behind them) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  const rows = summaries.map(
    (s) =>
      `| ${s.name}: ${s.description}${inFlightNote(s)} | ${s.staleReads} | ${s.lostWrites} | ${s.failedRequests} | ${s.reads} (${s.readsDuringFault}) | ${ms(s.faultMs)} | ${ms(s.duringFault.p99)} / ${ms(s.duringFault.max)} | ${s.timeoutMs}; ${ms(s.uncached.p50)} / ${ms(s.uncached.p99)} | ${s.circuitOpens} | ${s.redisErrors} | ${s.lockTimeouts} | ${s.lateInvalidations} (${ms(s.lateInvalidationMaxMs)}; ${s.readsBehindLate}) |`,
  )
  return [...header, ...rows].join('\n')
}
