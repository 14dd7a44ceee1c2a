// Runs the coherence checker: worker processes (Prisma and TypeORM) on one
// private PostgreSQL schema and one Redis prefix, their histories collected
// and checked, the figures summarized. The short run in `npm test` and the
// long one of `npm run test:chaos` both call `runChaos`.
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { MAX_UNREAD_BUS_MS } from '../../src/cache.js'
import type { CacheStats } from '../../src/index.js'
import { TYPESCRIPT_EXEC_ARGV, TYPESCRIPT_WORKER_START_MS } from '../fixtures/typescript-workers.js'
import { forkWatched, type WatchedChild } from '../fixtures/wait.js'
import { createPgSchema } from '../helpers/databases.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { postgresUrl, redisUrl } from '../helpers/services.js'
import type { Dying, Fault, FaultServers, FaultWindow, Stalling } from './faults.js'
import {
  type Confirmation,
  checkHistory,
  confirmationTimes,
  type Delivery,
  describeViolation,
  type Origin,
  pairDeliveries,
  percentile,
  type ReadRecord,
  type Receipt,
  type UnrecordedInvalidation,
  type Violation,
  type WriteRecord,
} from './history.js'
import { INITIAL_VERSION, TABLE, tableStatements } from './table.js'
import type { FromWorker, InFlightWrite, Orm, RowSharing, StallPoint, ToWorker, WorkerConfig } from './worker.js'

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url))
/** Time between the start signal and the first operation, so every worker starts together. */
const START_LEAD_MS = 200
/**
 * How long after the run's end a worker may take to say it finished: the operations under way
 * end within the cache's timeouts (Redis 3 s at most, a lock wait 2 s) and a database round trip.
 */
const FINISH_GRACE_MS = 30_000
/** How long a worker may take to close its clients, or to die at its next load once told to. */
const STOP_MS = 15_000
const MAX_VIOLATIONS_SHOWN = 5
/**
 * How long after a write's invalidation reached Redis another process may still serve what it
 * replaced from memory: the engine's bound on unread sockets, plus a margin for the millisecond
 * clock the engine uses, two processes' clocks, and Redis writing the bus message to a subscriber's
 * socket just after its answer to the writer.
 */
export const MEMORY_LAG_MS = MAX_UNREAD_BUS_MS + 10
const wallClock = () => performance.timeOrigin + performance.now()

export interface ChaosOptions {
  /** One entry per worker process: its ORM. */
  readonly workers: readonly Orm[]
  readonly durationMs: number
  readonly rows: number
  readonly bucketSize: number
  readonly rowsOf: RowSharing
  readonly zipfExponent: number
  readonly concurrency: number
  /** Operations per second per worker. */
  readonly rate: number
  readonly writeRatio: number
  readonly rollbackRatio: number
  readonly seed: number
  /** The workers' cache `timeout`, in ms: how long a read waits for Redis before going to the database. */
  readonly cacheTimeoutMs: number
  /** Broken Redis: the run uses the fault's own servers, not the shared Redis. */
  readonly fault?: Fault
}

export const DEFAULT_OPTIONS: Omit<ChaosOptions, 'workers' | 'durationMs'> = {
  rows: 300,
  bucketSize: 10,
  rowsOf: 'by-orm',
  zipfExponent: 1.1,
  concurrency: 2,
  rate: 400,
  writeRatio: 0.15,
  rollbackRatio: 0.3,
  seed: 1,
  cacheTimeoutMs: 3_000,
}

export interface ChaosReport {
  readonly options: ChaosOptions
  readonly reads: number
  readonly writes: number
  readonly rolledBack: number
  /** Writes PostgreSQL rolled back on a deadlock or serialization failure. */
  readonly aborted: number
  readonly failures: Readonly<Record<string, { readonly count: number; readonly first: string }>>
  readonly origins: Readonly<Record<Origin, number>>
  readonly violations: readonly Violation[]
  /** The histories around the first violations, ready to print. */
  readonly violationReports: readonly string[]
  /** Rows whose final version is not the number of committed writes to them: a write lost or doubled. */
  readonly lostWrites: readonly string[]
  /** Largest "served from memory after another process's write had returned", in ms (allowed: see checkHistory). */
  readonly maxL1StalenessMs: number
  readonly l1StaleReads: number
  /** The same from Redis: allowed only before a write's invalidation that had timed out reached Redis. */
  readonly maxL2StalenessMs: number
  readonly l2StaleReads: number
  /** Reads from memory or Redis behind a write that returned before Redis had its invalidation (allowed until it had). */
  readonly readsBehindLate: number
  /**
   * Writes that returned before Redis had confirmed their invalidation: how many, how many were
   * confirmed later, and the longest time from such a write's return to its confirmation.
   */
  readonly lateInvalidations: { readonly count: number; readonly confirmed: number; readonly maxMs: number }
  /** Write returned → invalidation received by another worker, in ms, over every pair measured. */
  readonly lag: { readonly p50: number; readonly p99: number; readonly max: number; readonly count: number }
  readonly memoryLagMs: number
  /** On a Redis Cluster, where another process's memory may also lag by the measured bus delay (see CheckOptions). */
  readonly onCluster: boolean
  readonly stats: readonly CacheStats[]
  readonly unattributedInvalidations: number
  /** From the first fork to every worker ready (compiling the sources, connecting). */
  readonly startupMs: number
  readonly wallMs: number
  /** When the fault broke Redis (none without a fault). */
  readonly faultWindows: readonly FaultWindow[]
  /** Writes under way in workers the fault killed: each may or may not have committed. */
  readonly inFlightWrites: readonly InFlightWrite[]
  /** Of the rows those writes touched, how many the database shows bumped by one of them. */
  readonly inFlightRowsCommitted: number
  /** Everything the workers recorded, for a closer look. */
  readonly history: {
    readonly reads: readonly ReadRecord[]
    readonly writes: readonly WriteRecord[]
    readonly deliveries: readonly Delivery[]
    readonly confirmations: readonly Confirmation[]
  }
}

/** A worker process; the records it streams go to the run's sink as they come. */
interface Running {
  readonly child: WatchedChild
  /** Its next message of `type`, within `timeoutMs`; rejects if it exits first. */
  next(type: FromWorker['type'], timeoutMs: number): Promise<FromWorker>
}

/** What the workers streamed, gathered. */
interface Records {
  readonly reads: ReadRecord[]
  readonly writes: WriteRecord[]
  readonly receipts: Receipt[]
  readonly unrecorded: UnrecordedInvalidation[]
  readonly confirmations: Confirmation[]
}

function start(config: WorkerConfig, sink: Records): Running {
  const stream = (message: unknown) => {
    const records = message as FromWorker
    if (records.type !== 'records') return false
    for (const read of records.reads) sink.reads.push(read)
    for (const write of records.writes) sink.writes.push(write)
    for (const receipt of records.receipts) sink.receipts.push(receipt)
    for (const invalidation of records.unrecorded) sink.unrecorded.push(invalidation)
    for (const confirmation of records.confirmations) sink.confirmations.push(confirmation)
    return true
  }
  const child = forkWatched(`chaos worker ${config.worker} (${config.orm})`, WORKER, [JSON.stringify(config)], {
    execArgv: [...TYPESCRIPT_EXEC_ARGV],
    serialization: 'advanced',
    stream,
  })
  return {
    child,
    next: (type, timeoutMs) =>
      child.nextMessage(
        `${child.name}'s '${type}' message`,
        timeoutMs,
        (message) => (message as FromWorker).type === type,
      ),
  }
}

/** A process's state letter from /proc (`T` stopped, `R` running, …); undefined where there is no /proc. */
function processState(pid: number | undefined): string | undefined {
  if (pid === undefined) return undefined
  try {
    // The command name, in parentheses, may hold spaces: the state follows the last parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  } catch {
    return undefined
  }
}

function send(worker: Running, message: ToWorker): void {
  worker.child.process.send(message)
}

async function createTable(url: string, schema: string, options: ChaosOptions): Promise<void> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path="${schema}"` })
  await client.connect()
  try {
    for (const statement of tableStatements(options.rows, options.bucketSize)) await client.query(statement)
  } finally {
    await client.end()
  }
}

async function finalVersions(url: string, schema: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path="${schema}"` })
  await client.connect()
  try {
    const { rows } = await client.query<{ id: number; version: number }>(`SELECT id, version FROM ${TABLE}`)
    return new Map(rows.map(({ id, version }) => [id, version]))
  } finally {
    await client.end()
  }
}

/**
 * Every committed write bumped each of its rows once: a row's final version is
 * how many did, plus, for the writes a killed worker had under way, anything
 * from none to all of them (the database's version column says which did).
 */
function lostWrites(
  writes: readonly WriteRecord[],
  inFlight: readonly InFlightWrite[],
  finals: ReadonlyMap<number, number>,
): { problems: string[]; inFlightRowsCommitted: number } {
  const count = (counts: Map<number, number>, row: number) => counts.set(row, (counts.get(row) ?? 0) + 1)
  const committed = new Map<number, number>()
  for (const write of writes) for (const { row } of write.versions) count(committed, row)
  const maybe = new Map<number, number>()
  for (const write of inFlight) for (const row of write.rows) count(maybe, row)
  const problems: string[] = []
  let inFlightRowsCommitted = 0
  for (const [row, version] of finals) {
    const expected = INITIAL_VERSION + (committed.get(row) ?? 0)
    const extra = version - expected
    if (extra < 0 || extra > (maybe.get(row) ?? 0))
      problems.push(`row ${row}: version ${version} in the database, ${expected} writes returned`)
    else inFlightRowsCommitted += extra
  }
  return { problems, inFlightRowsCommitted }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  if (options.rows % (2 * options.bucketSize) !== 0)
    throw new RangeError(`rows (${options.rows}) must be a multiple of two buckets (${2 * options.bucketSize})`)
  const began = performance.now()
  const database = await createPgSchema('chaos')
  const prefix = uniquePrefix('chaos')
  const baseUrl = await postgresUrl()
  const servers: FaultServers | undefined = await options.fault?.start()
  const redis = servers === undefined ? await redisUrl() : undefined
  const workers: Running[] = []
  const sink: Records = { reads: [], writes: [], receipts: [], unrecorded: [], confirmations: [] }
  try {
    await createTable(baseUrl, database.schema, options)
    options.workers.forEach((orm, worker) => {
      const config: WorkerConfig = {
        worker,
        orm,
        postgresUrl: baseUrl,
        schema: database.schema,
        redis: servers?.target ?? { url: redis! },
        prefix,
        cacheTimeoutMs: options.cacheTimeoutMs,
        seed: options.seed * 1_000 + worker,
        rows: options.rows,
        bucketSize: options.bucketSize,
        rowsOf: options.rowsOf,
        zipfExponent: options.zipfExponent,
        concurrency: options.concurrency,
        rate: options.rate,
        writeRatio: options.writeRatio,
        rollbackRatio: options.rollbackRatio,
      }
      workers.push(start(config, sink))
    })
    await Promise.all(workers.map((worker) => worker.next('ready', TYPESCRIPT_WORKER_START_MS)))
    const startupMs = performance.now() - began
    const endAt = performance.timeOrigin + performance.now() + START_LEAD_MS + options.durationMs
    for (const worker of workers) send(worker, { type: 'start', endAt })
    const startAt = endAt - options.durationMs
    const at = (fraction: number) => sleep(Math.max(0, startAt + fraction * options.durationMs - wallClock()))
    const killed = new Map<Running, Dying | undefined>()
    const killWorkerHoldingLock = async (index: number): Promise<Dying> => {
      const worker = workers[index]!
      killed.set(worker, undefined)
      send(worker, { type: 'die-holding-lock' })
      const dying = (await worker.next('dying', STOP_MS)) as Dying
      killed.set(worker, dying)
      await worker.child.closed(STOP_MS)
      return dying
    }
    const stallWorker = async (index: number, when: StallPoint, ms: number): Promise<FaultWindow> => {
      const worker = workers[index]!
      send(worker, { type: 'stall', ms, when })
      const gaveUp = sleep(options.durationMs / 4).then(() => {
        throw new Error(`worker ${index} reached no ${when} in ${options.durationMs / 4} ms`)
      })
      const stalling = (await Promise.race([worker.next('stalling', options.durationMs), gaveUp])) as Stalling
      const resumeAt = stalling.at + ms
      try {
        await sleep(Math.max(0, (stalling.at + resumeAt) / 2 - wallClock()))
        const state = processState(worker.child.process.pid)
        if (state !== undefined && state !== 'T') throw new Error(`worker ${index} is not stopped (state ${state})`)
        await sleep(Math.max(0, resumeAt - wallClock()))
      } finally {
        // The worker's own timer resumes it; this is for a stop that outlived it.
        worker.child.process.kill('SIGCONT')
      }
      return { label: `worker ${index} stopped in ${stalling.op} (${when})`, from: stalling.at, to: wallClock() }
    }
    const injected =
      servers === undefined
        ? Promise.resolve([])
        : options.fault!.inject(at, servers, {
            durationMs: options.durationMs,
            killWorkerHoldingLock,
            stallWorker,
          })
    // A worker the fault killed never finishes; the others must.
    const finishedBy = (worker: Running) =>
      worker.next('finished', Math.round(endAt - wallClock() + FINISH_GRACE_MS)).catch((error: unknown) => {
        if (killed.has(worker)) return undefined
        throw error
      })
    const [finishing, faultWindows] = await Promise.all([Promise.all(workers.map(finishedBy)), injected])
    const finished = finishing.filter((message) => message !== undefined)
    const alive = workers.filter((worker) => !killed.has(worker))
    for (const worker of alive) send(worker, { type: 'stop' })
    const stopped = await Promise.all(alive.map((worker) => worker.next('stopped', STOP_MS)))
    const inFlight = [...killed.values()].flatMap((dying) => dying?.inFlight ?? [])
    const finals = await finalVersions(baseUrl, database.schema)
    return analyse(options, sink, finished, stopped, finals, {
      startupMs,
      wallMs: performance.now() - began,
      faultWindows,
      inFlight,
      onCluster: servers !== undefined && 'cluster' in servers.target,
    })
  } finally {
    for (const worker of workers) if (worker.child.process.exitCode === null) worker.child.process.kill('SIGKILL')
    if (redis !== undefined) {
      const admin = new Redis(redis)
      await deleteKeysWithPrefix(admin, prefix).finally(() => admin.disconnect())
    }
    await servers?.stop()
    await database.drop()
  }
}

function analyse(
  options: ChaosOptions,
  { reads, writes, receipts, unrecorded, confirmations }: Records,
  finished: readonly FromWorker[],
  stopped: readonly FromWorker[],
  finals: ReadonlyMap<number, number>,
  {
    startupMs,
    wallMs,
    faultWindows,
    inFlight,
    onCluster,
  }: {
    startupMs: number
    wallMs: number
    faultWindows: readonly FaultWindow[]
    inFlight: readonly InFlightWrite[]
    onCluster: boolean
  },
): ChaosReport {
  const { problems, inFlightRowsCommitted } = lostWrites(writes, inFlight, finals)
  const deliveries = pairDeliveries(writes, receipts, unrecorded)
  const lags = deliveries.map(({ write, at }) => at - write.end)
  const maxLag = lags.length === 0 ? 0 : Math.max(...lags)
  const confirmedAt = confirmationTimes(writes, confirmations)
  const late = writes.filter((write) => write.invalidationFailedAt !== undefined)
  const { violations, l1Staleness, l2Staleness, behindLate } = checkHistory(reads, writes, {
    initialVersion: INITIAL_VERSION,
    memoryLagMs: MEMORY_LAG_MS,
    ...(onCluster ? { cluster: { deliveries, unmeasuredLagMs: maxLag } } : {}),
    confirmedAt,
  })
  const origins: Record<Origin, number> = { l1: 0, l2: 0, database: 0, stale: 0, bypass: 0, flight: 0 }
  for (const read of reads) origins[read.origin]++
  const failures: Record<string, { count: number; first: string }> = {}
  let rolledBack = 0
  let aborted = 0
  for (const message of finished) {
    if (message.type !== 'finished') continue
    rolledBack += message.rolledBack
    aborted += message.aborted
    for (const [op, failure] of Object.entries(message.failures)) {
      const total = failures[op] ?? { count: 0, first: failure.first }
      total.count += failure.count
      failures[op] = total
    }
  }
  const stats: CacheStats[] = []
  let unattributedInvalidations = 0
  for (const message of stopped) {
    if (message.type !== 'stopped') continue
    stats.push(message.stats)
    unattributedInvalidations += message.unattributedInvalidations
  }
  return {
    options,
    reads: reads.length,
    writes: writes.length,
    rolledBack,
    aborted,
    failures,
    origins,
    violations,
    violationReports: violations
      .slice(0, MAX_VIOLATIONS_SHOWN)
      .map((violation) => describeViolation(violation, reads, writes, deliveries)),
    lostWrites: problems,
    inFlightWrites: inFlight,
    inFlightRowsCommitted,
    maxL1StalenessMs: l1Staleness.length === 0 ? 0 : Math.max(...l1Staleness),
    l1StaleReads: l1Staleness.length,
    maxL2StalenessMs: l2Staleness.length === 0 ? 0 : Math.max(...l2Staleness),
    l2StaleReads: l2Staleness.length,
    readsBehindLate: behindLate,
    lateInvalidations: {
      count: late.length,
      confirmed: late.filter((write) => confirmedAt.has(write)).length,
      maxMs: Math.max(
        0,
        ...late.map((write) => (confirmedAt.get(write) ?? Number.NaN) - write.end).filter(Number.isFinite),
      ),
    },
    lag: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: maxLag, count: lags.length },
    memoryLagMs: MEMORY_LAG_MS,
    onCluster,
    stats,
    unattributedInvalidations,
    startupMs,
    wallMs,
    faultWindows,
    history: { reads, writes, deliveries, confirmations },
  }
}

const share = (part: number, whole: number) => `${((100 * part) / Math.max(1, whole)).toFixed(1)}%`

/** The report as printed after a run: figures first, then the histories around violations. */
export function formatReport(report: ChaosReport): string {
  const { options, origins, lag } = report
  const byOrm = options.workers.reduce<Record<string, number>>((counts, orm) => {
    counts[orm] = (counts[orm] ?? 0) + 1
    return counts
  }, {})
  const lines = [
    `coherence checker: ${options.workers.length} workers (${Object.entries(byOrm)
      .map(([orm, count]) => `${count} ${orm}`)
      .join(
        ', ',
      )}), ${(options.durationMs / 1_000).toFixed(0)} s, ${options.rows} rows (Zipf s=${options.zipfExponent}), ` +
      `rows ${options.rowsOf}, seed ${options.seed}, wall ${(report.wallMs / 1_000).toFixed(1)} s (${(report.startupMs / 1_000).toFixed(1)} s starting the workers)`,
    `  reads ${report.reads}, writes ${report.writes} committed + ${report.rolledBack} rolled back + ${report.aborted} aborted by deadlocks, failed operations ${Object.values(
      report.failures,
    ).reduce((sum, failure) => sum + failure.count, 0)}`,
    `  served from: L1 ${share(origins.l1, report.reads)}, L2 ${share(origins.l2, report.reads)}, database ${share(
      origins.database,
      report.reads,
    )}, joined a load under way ${share(origins.flight, report.reads)}, stale (swr) ${share(origins.stale, report.reads)}, bypass ${share(origins.bypass, report.reads)}`,
    `  stale reads: ${report.violations.length}; lost writes: ${report.lostWrites.length}`,
    `  memory reads behind another process's write (allowed up to ${report.memoryLagMs} ms after its invalidation reached Redis${report.onCluster ? ', or until the measured delivery on this cluster' : ''}): ${report.l1StaleReads}, max ${report.maxL1StalenessMs.toFixed(2)} ms after it returned`,
    `  invalidation lag (write returned → other worker received), ${lag.count} pairs: p50 ${lag.p50.toFixed(2)} ms, ` +
      `p99 ${lag.p99.toFixed(2)} ms, max ${lag.max.toFixed(2)} ms`,
  ]
  const { lateInvalidations: late } = report
  if (late.count > 0)
    lines.push(
      `  writes returned before Redis confirmed their invalidation: ${late.count}, ${late.confirmed} confirmed later (up to ${late.maxMs.toFixed(0)} ms after the write returned); ` +
        `reads of other processes behind them (allowed until then): ${report.readsBehindLate}, of which from Redis ${report.l2StaleReads} (up to ${report.maxL2StalenessMs.toFixed(2)} ms after the write returned)`,
    )
  if (report.violations.length > 0) {
    const byKind = new Map<string, number>()
    for (const { read } of report.violations) {
      const kind = `${read.op} from ${read.origin}`
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1)
    }
    lines.push(
      `  stale reads by kind: ${[...byKind]
        .sort((x, y) => y[1] - x[1])
        .map(([kind, count]) => `${kind} ${count}`)
        .join(', ')}; the first ${report.violationReports.length} below`,
    )
  }
  if (report.unattributedInvalidations > 0)
    lines.push(
      `  invalidations published outside any operation (kept in the pairing, not checked): ${report.unattributedInvalidations}`,
    )
  for (const [op, failure] of Object.entries(report.failures))
    lines.push(`  FAILED ${op} ×${failure.count}: ${failure.first}`)
  for (const problem of report.lostWrites.slice(0, 10)) lines.push(`  LOST ${problem}`)
  for (const text of report.violationReports) lines.push(text)
  return lines.join('\n')
}
