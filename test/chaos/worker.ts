// One app instance of the coherence checker, in a process of its own (run with
// test/fixtures/typescript-hooks.mjs, which compiles the
// sources under test): a Prisma or a TypeORM client cached by ormcache on the
// shared schema and Redis prefix, making seeded random reads and writes until
// the parent's deadline and streaming what it did, with times, to the parent.
import { AsyncLocalStorage } from 'node:async_hooks'
import { spawn } from 'node:child_process'
import { subscribe } from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import { Cluster } from 'ioredis'
import type { CacheStats } from '../../src/index.js'
import { distinct, seededRandom, zipfSampler } from '../fixtures/random.js'
import { until } from '../fixtures/wait.js'
import type {
  Confirmation,
  Observation,
  Origin,
  ReadRecord,
  Receipt,
  UnrecordedInvalidation,
  WriteRecord,
} from './history.js'
import { bucketOf, chaosRowSchema, rowOfRank, rowsOfBucket } from './table.js'

export type Orm = 'prisma' | 'typeorm'
export type RowSharing = 'shared' | 'by-orm'
/** The Redis the worker's cache uses: one server's URL, or a cluster's startup nodes. */
export type RedisTarget =
  | { readonly url: string }
  | { readonly cluster: readonly { readonly host: string; readonly port: number }[] }

export interface WorkerConfig {
  readonly worker: number
  readonly orm: Orm
  readonly postgresUrl: string
  readonly schema: string
  readonly redis: RedisTarget
  readonly prefix: string
  /** The cache's Redis timeout: how long a read waits for Redis before serving from the database. */
  readonly cacheTimeoutMs: number
  readonly seed: number
  readonly rows: number
  readonly bucketSize: number
  /**
   * `shared`: every worker reads and writes every row. `by-orm`: Prisma workers use the even buckets,
   * TypeORM workers the odd ones, as two apps sharing a database and a Redis prefix but no rows
   * (the adapters' tags differ, so one ORM's writes do not invalidate the other's reads).
   */
  readonly rowsOf: RowSharing
  readonly zipfExponent: number
  /** Operations in flight at once in this process. */
  readonly concurrency: number
  /** Operations per second this process aims at, all loops together: bounds the load on a shared machine. */
  readonly rate: number
  /** Share of operations that write. */
  readonly writeRatio: number
  /** Share of interactive transactions that roll back. */
  readonly rollbackRatio: number
}

export type ToWorker =
  | { readonly type: 'start'; readonly endAt: number }
  | { readonly type: 'stop' }
  /** Die (SIGKILL, by its own hand) at the next load, while holding that key's stampede lock. */
  | { readonly type: 'die-holding-lock' }
  /** Stop (SIGSTOP, by its own hand) for `ms` at the next operation that reaches `when`. */
  | { readonly type: 'stall'; readonly ms: number; readonly when: StallPoint }

/**
 * Where a worker stops: in a committed write, before its invalidation is sent to Redis, or once it
 * has been sent and before the reply is read (so the reply and the timeout's timer are both due
 * when the process runs again); or in a read whose load has just started (its query sent), which
 * other reads of the key in this process may join when it runs again.
 */
export type StallPoint = 'before-invalidation' | 'invalidation-sent' | 'mid-load'

/** A write under way when its worker died: it may or may not have committed. */
export interface InFlightWrite {
  readonly op: string
  readonly rows: readonly number[]
  readonly start: number
}

export type FromWorker =
  | { readonly type: 'ready' }
  | {
      readonly type: 'records'
      readonly reads: readonly ReadRecord[]
      readonly writes: readonly WriteRecord[]
      readonly receipts: readonly Receipt[]
      readonly unrecorded: readonly UnrecordedInvalidation[]
      readonly confirmations: readonly Confirmation[]
    }
  | {
      readonly type: 'finished'
      readonly rolledBack: number
      /** Writes PostgreSQL aborted (deadlock, serialization failure): nothing of them committed. */
      readonly aborted: number
      /** Operations that threw, by op: how many and the first error. */
      readonly failures: Readonly<Record<string, { readonly count: number; readonly first: string }>>
    }
  | { readonly type: 'stopped'; readonly stats: CacheStats; readonly unattributedInvalidations: number }
  | {
      readonly type: 'dying'
      readonly lockKey: string
      readonly at: number
      readonly inFlight: readonly InFlightWrite[]
    }
  /** Sent just before the worker stops itself; it resumes `ms` later. */
  | { readonly type: 'stalling'; readonly at: number; readonly op: string; readonly when: StallPoint }

const FLUSH_INTERVAL_MS = 200
/** How long the cache may take to be ready (bus live, Redis up): connections and a SUBSCRIBE, on a loaded machine. */
const READY_MS = 20_000
/** How often a worker with an invalidation pending looks whether Redis has it yet. */
const CONFIRMATION_POLL_MS = 2
/** How long a stopping worker waits for its pending invalidations to reach Redis. */
const PENDING_WAIT_MS = 10_000

const config = JSON.parse(process.argv[2] ?? '') as WorkerConfig
const now = () => performance.timeOrigin + performance.now()
const send = (message: FromWorker) => process.send!(message)

/** What the cache reported during one operation, collected through its async context. */
interface OperationContext {
  /** The write's op, for a write; reads publish no invalidation of their own. */
  readonly write?: string
  /** The read's op, for a read. */
  readonly read?: string
  origin?: Origin
  /** A hit, miss or load event came from this operation's own call: it did not join another's load. */
  ownLookup?: boolean
  /** Set when the operation has returned: what its async context publishes later belongs to no record. */
  done?: boolean
  /** When the cache failed to write the operation's invalidation to Redis (see WriteRecord). */
  invalidationFailedAt?: number
  readonly invalidations: { at: number; tags: string }[]
}
const context = new AsyncLocalStorage<OperationContext>()
let reads: ReadRecord[] = []
let writes: WriteRecord[] = []
let receipts: Receipt[] = []
let unrecorded: UnrecordedInvalidation[] = []
let confirmations: Confirmation[] = []
let unattributedInvalidations = 0

subscribe('ormcache:invalidate', (message) => {
  const { prefix, tags, origin } = message as { prefix: string; tags?: readonly string[]; origin: string }
  if (prefix !== config.prefix) return
  const at = now()
  const encoded = JSON.stringify(tags ?? '*')
  if (origin === 'remote') {
    receipts.push({ worker: config.worker, at, tags: encoded })
    return
  }
  const operation = context.getStore()
  if (operation !== undefined && !operation.done) {
    operation.invalidations.push({ at, tags: encoded })
    if (stallAt?.when !== 'mid-load' && operation.write !== undefined) stall(operation.write)
    return
  }
  unattributedInvalidations++
  unrecorded.push({ worker: config.worker, at, tags: encoded })
})
// A write's only Redis call is its invalidation: an error in its context is that invalidation
// failing. The cache keeps it pending and resends it; when nothing is pending any more, Redis has it.
let confirming: NodeJS.Timeout | undefined
subscribe('ormcache:redis-error', (message) => {
  const operation = context.getStore()
  if ((message as { prefix: string }).prefix !== config.prefix || operation?.write === undefined || operation.done)
    return
  operation.invalidationFailedAt ??= now()
  confirming ??= setInterval(() => {
    if (client.stats().pendingInvalidations > 0) return
    confirmations.push({ worker: config.worker, at: now() })
    clearInterval(confirming)
    confirming = undefined
  }, CONFIRMATION_POLL_MS)
})
// TypeORM has no withInfo: a hit event in the read's own async context says which tier served it.
subscribe('ormcache:hit', (message) => {
  const { prefix, tier } = message as { prefix: string; tier: 'l1' | 'l2' }
  const operation = context.getStore()
  if (prefix !== config.prefix || operation === undefined) return
  operation.origin = tier
  operation.ownLookup = true
})
// A read that joins a load already under way in this process sees none of these in its own context.
for (const name of ['ormcache:miss', 'ormcache:load']) {
  subscribe(name, (message) => {
    const operation = context.getStore()
    if ((message as { prefix: string }).prefix === config.prefix && operation !== undefined) operation.ownLookup = true
  })
}
// Published just before the loader runs: the stall comes once its query is sent.
subscribe('ormcache:miss', (message) => {
  const operation = context.getStore()
  if (stallAt?.when !== 'mid-load' || (message as { prefix: string }).prefix !== config.prefix) return
  if (operation !== undefined && operation.write === undefined && !operation.done) stall(operation.read ?? 'read')
})

let dieAtNextLoad = false
let dying = false
// Published when a loader has returned, before its value is stored and the lock released: the
// lock is held. The records go first, written to the IPC pipe synchronously while they fit in it.
subscribe('ormcache:load', (message) => {
  const { prefix, key } = message as { prefix: string; key: string }
  if (!dieAtNextLoad || dying || prefix !== config.prefix) return
  dying = true
  flush()
  send({ type: 'dying', lockKey: `${config.prefix}:e:${key}`, at: now(), inFlight: [...inFlight] })
  process.kill(process.pid, 'SIGKILL')
})

let stallAt: { readonly ms: number; readonly when: StallPoint } | undefined

/**
 * Stops this process (SIGSTOP), as the OS leaves a starved process unscheduled. The invalidation
 * event comes just before the script is written to the socket, which happens synchronously; a
 * microtask runs once that is done. The miss event comes just before the loader runs. What resumes
 * the process (SIGCONT) is a process of its own, started first: a stopped worker is resumed even
 * if the parent dies meanwhile.
 */
function stall(op: string): void {
  if (stallAt === undefined) return
  const { ms, when } = stallAt
  stallAt = undefined
  const stop = () => {
    send({ type: 'stalling', at: now(), op, when })
    spawn('sh', ['-c', `sleep ${ms / 1_000}; kill -CONT ${process.pid}`], { detached: true, stdio: 'ignore' }).unref()
    process.kill(process.pid, 'SIGSTOP')
  }
  if (when === 'before-invalidation') stop()
  else if (when === 'invalidation-sent') queueMicrotask(stop)
  // The loader's query is on its way once the turn's microtasks have run.
  else setImmediate(stop)
}

class RolledBack extends Error {}

interface ReadResult {
  readonly origin: Origin
  readonly seen: Observation[]
}
type RowVersions = { row: number; version: number }[]

/** The operations, the same for both ORMs. */
interface Client {
  readById(id: number): Promise<ReadResult>
  readList(bucket: number): Promise<ReadResult>
  readSum(bucket: number): Promise<ReadResult>
  updateOne(id: number): Promise<RowVersions>
  updateMany(ids: readonly number[]): Promise<RowVersions>
  /** Bumps `ids` one statement at a time in an interactive transaction; throws RolledBack after them when `rollback`. */
  transaction(ids: readonly number[], rollback: boolean): Promise<RowVersions>
  /** Connects; resolves when reads and writes may start. */
  open(): Promise<void>
  stats(): CacheStats
  ready(): boolean
  close(): Promise<void>
}

// A Cluster is handed to the cache, which uses it but never closes it: the worker does, last.
const cluster = 'cluster' in config.redis ? new Cluster([...config.redis.cluster]) : undefined
const cacheOptions = {
  redis: cluster ?? ('url' in config.redis ? config.redis.url : undefined),
  prefix: config.prefix,
  timeout: `${config.cacheTimeoutMs}ms`,
} as const
const bucketRows = (bucket: number) => rowsOfBucket(bucket, config.bucketSize, config.rows)

function listObservations(bucket: number, found: readonly { id: number; version: number }[]): Observation[] {
  const expected = bucketRows(bucket)
  if (found.length !== expected.length)
    throw new Error(`bucket ${bucket}: ${found.length} rows, not ${expected.length}`)
  return found.map(({ id, version }) => ({ rows: [id], versionSum: version }))
}

// Each worker loads only its own ORM and adapter: the sources are compiled as they load, and start-up is most of a short run.
async function prismaClient(): Promise<Client> {
  const [{ PrismaPg }, { prismaCache }, { PrismaClient }] = await Promise.all([
    import('@prisma/adapter-pg'),
    import('../../adapters/prisma/index.js'),
    import('./generated/client.js'),
  ])
  const adapter = new PrismaPg({ connectionString: config.postgresUrl, max: 4 }, { schema: config.schema })
  const prisma = new PrismaClient({ adapter, errorFormat: 'minimal' }).$extends(prismaCache(cacheOptions))
  const info = prisma.$cache.withInfo
  return {
    async readById(id) {
      const { data, info: served } = await info(() => prisma.chaosRow.findUnique({ where: { id } }))
      if (data === null) throw new Error(`row ${id} missing`)
      return { origin: served.origin, seen: [{ rows: [id], versionSum: data.version }] }
    },
    async readList(bucket) {
      const { data, info: served } = await info(() => prisma.chaosRow.findMany({ where: { bucket } }))
      return { origin: served.origin, seen: listObservations(bucket, data) }
    },
    async readSum(bucket) {
      const { data, info: served } = await info(() =>
        prisma.chaosRow.aggregate({ where: { bucket }, _sum: { version: true } }),
      )
      return { origin: served.origin, seen: [{ rows: bucketRows(bucket), versionSum: data._sum.version ?? 0 }] }
    },
    async updateOne(id) {
      const row = await prisma.chaosRow.update({ where: { id }, data: { version: { increment: 1 } } })
      return [{ row: row.id, version: row.version }]
    },
    async updateMany(ids) {
      const changed = await prisma.chaosRow.updateManyAndReturn({
        where: { id: { in: [...ids] } },
        data: { version: { increment: 1 } },
      })
      return changed.map((row) => ({ row: row.id, version: row.version }))
    },
    transaction(ids, rollback) {
      return prisma.$transaction(async (tx) => {
        const changed: RowVersions = []
        for (const id of ids) {
          const row = await tx.chaosRow.update({ where: { id }, data: { version: { increment: 1 } } })
          changed.push({ row: row.id, version: row.version })
        }
        if (rollback) throw new RolledBack()
        return changed
      })
    },
    // Prisma connects on the first query; the cache's Redis connections are opened by the extension.
    open: async () => {},
    stats: () => prisma.$cache.stats(),
    ready: () => prisma.$cache.stats().bus === 'live' && prisma.$cache.stats().redis === 'up',
    close: () => prisma.$disconnect(),
  }
}

async function typeormClient(): Promise<Client> {
  const [typeorm, { cacheOf, withCache }] = await Promise.all([
    import('typeorm'),
    import('../../adapters/typeorm/index.js'),
  ])
  const { DataSource } = typeorm
  const ChaosRowEntity = chaosRowSchema(typeorm)
  const dataSource = new DataSource(
    withCache(
      { type: 'postgres', url: config.postgresUrl, schema: config.schema, entities: [ChaosRowEntity], poolSize: 4 },
      cacheOptions,
    ),
  )
  const repository = dataSource.getRepository(ChaosRowEntity)
  const origin = (): Origin => context.getStore()?.origin ?? 'database'
  const returned = (raw: unknown): RowVersions =>
    (raw as { id: number; version: number }[]).map(({ id, version }) => ({ row: id, version }))
  return {
    async readById(id) {
      const row = await repository.findOneBy({ id })
      if (row === null) throw new Error(`row ${id} missing`)
      return { origin: origin(), seen: [{ rows: [id], versionSum: row.version }] }
    },
    async readList(bucket) {
      const found = await repository.findBy({ bucket })
      return { origin: origin(), seen: listObservations(bucket, found) }
    },
    async readSum(bucket) {
      const sum = await repository.sum('version', { bucket })
      return { origin: origin(), seen: [{ rows: bucketRows(bucket), versionSum: sum ?? 0 }] }
    },
    async updateOne(id) {
      const result = await repository
        .createQueryBuilder()
        .update()
        .set({ version: () => 'version + 1' })
        .where('id = :id', { id })
        .returning(['id', 'version'])
        .execute()
      return returned(result.raw)
    },
    async updateMany(ids) {
      const result = await repository
        .createQueryBuilder()
        .update()
        .set({ version: () => 'version + 1' })
        .where('id IN (:...ids)', { ids })
        .returning(['id', 'version'])
        .execute()
      return returned(result.raw)
    },
    transaction(ids, rollback) {
      return dataSource.transaction(async (manager) => {
        const changed: RowVersions = []
        for (const id of ids) {
          await manager.increment(ChaosRowEntity, { id }, 'version', 1)
          const row = await manager.findOneByOrFail(ChaosRowEntity, { id })
          changed.push({ row: id, version: row.version })
        }
        if (rollback) throw new RolledBack()
        return changed
      })
    },
    async open() {
      await dataSource.initialize()
    },
    stats: () => cacheOf(dataSource).stats(),
    ready: () => dataSource.isInitialized && cacheOf(dataSource).stats().bus === 'live',
    async close() {
      await dataSource.destroy()
    },
  }
}

const random = seededRandom(config.seed)
const pickRow = rowChooser()
// Several rows in id order: concurrent transactions then lock them in the same order, never deadlocking.
const pickRows = () => distinct(pickRow, 2 + Math.floor(random() * 3)).sort((a, b) => a - b)
let rolledBack = 0
let aborted = 0

/** Zipf over this worker's rows: rank 1, the hottest, is the first row of its first bucket. */
function rowChooser(): () => number {
  if (config.rowsOf === 'shared') return zipfSampler(config.rows, config.zipfExponent, random)
  const rank = zipfSampler(config.rows / 2, config.zipfExponent, random)
  const partition = config.orm === 'prisma' ? 0 : 1
  return () => rowOfRank(rank(), partition, 2, config.bucketSize)
}
const failures: Record<string, { count: number; first: string }> = {}

async function read(op: string, run: () => Promise<ReadResult>): Promise<void> {
  const operation: OperationContext = { read: `${config.orm} ${op}`, invalidations: [] }
  const start = now()
  const { origin, seen } = await context.run(operation, run).finally(() => {
    operation.done = true
  })
  // Served by another caller's load (from the database or Redis): it began before this read.
  const served = !operation.ownLookup && (origin === 'database' || origin === 'l2') ? 'flight' : origin
  reads.push({ worker: config.worker, op: `${config.orm} ${op}`, origin: served, start, end: now(), seen })
}

const inFlight = new Set<InFlightWrite>()

async function write(op: string, rows: readonly number[], run: () => Promise<RowVersions>): Promise<void> {
  const operation: OperationContext = { write: `${config.orm} ${op}`, invalidations: [] }
  const start = now()
  const underWay: InFlightWrite = { op: `${config.orm} ${op}`, rows, start }
  inFlight.add(underWay)
  try {
    const versions = await context.run(operation, run).finally(() => {
      operation.done = true
    })
    const end = now()
    writes.push({
      worker: config.worker,
      op: `${config.orm} ${op}`,
      start,
      end,
      versions,
      invalidations: operation.invalidations,
      ...(operation.invalidationFailedAt === undefined ? {} : { invalidationFailedAt: operation.invalidationFailedAt }),
    })
  } catch (error) {
    // What it published still holds a place in the others' sequence of receipts.
    for (const invalidation of operation.invalidations) unrecorded.push({ worker: config.worker, ...invalidation })
    if (error instanceof RolledBack) rolledBack++
    else if (abortedByDatabase(error)) aborted++
    else throw error
  } finally {
    inFlight.delete(underWay)
  }
}

/**
 * Two writes locking the same rows in different orders (an UPDATE … IN locks
 * them in the order it scans them) deadlock, and PostgreSQL rolls one back, as
 * in any app: an outcome of concurrency, not a failure. The final versions
 * check proves nothing of it committed.
 */
function abortedByDatabase(error: unknown): boolean {
  const codes = new Set<unknown>()
  for (let cause: unknown = error; typeof cause === 'object' && cause !== null; ) {
    const fields = cause as {
      code?: unknown
      originalCode?: unknown
      driverError?: unknown
      cause?: unknown
      meta?: { driverAdapterError?: unknown }
    }
    codes.add(fields.code)
    codes.add(fields.originalCode)
    cause = fields.driverError ?? fields.meta?.driverAdapterError ?? fields.cause
  }
  // 40P01 deadlock, 40001 serialization failure; Prisma's P2034 ("write conflict or deadlock").
  return codes.has('40P01') || codes.has('40001') || codes.has('P2034')
}

/** One random operation: mostly reads of the three kinds, else one of the three kinds of write. */
function operation(client: Client): [string, () => Promise<void>] {
  const row = pickRow()
  const bucket = bucketOf(row, config.bucketSize)
  if (random() >= config.writeRatio) {
    const choice = random()
    if (choice < 0.6) return ['by-id', () => read('by-id', () => client.readById(row))]
    if (choice < 0.8) return ['list', () => read('list', () => client.readList(bucket))]
    return ['sum', () => read('sum', () => client.readSum(bucket))]
  }
  const choice = random()
  if (choice < 0.6) return ['update', () => write('update', [row], () => client.updateOne(row))]
  const rows = pickRows()
  if (choice < 0.8) return ['update-many', () => write('update-many', rows, () => client.updateMany(rows))]
  const rollback = random() < config.rollbackRatio
  return ['transaction', () => write('transaction', rows, () => client.transaction(rows, rollback))]
}

async function loop(client: Client, endAt: number): Promise<void> {
  const intervalMs = (1_000 * config.concurrency) / config.rate
  let next = now()
  while (now() < endAt && !dying) {
    const [op, run] = operation(client)
    try {
      await run()
    } catch (error) {
      const failure = failures[`${config.orm} ${op}`] ?? { count: 0, first: inspect(error) }
      failure.count++
      failures[`${config.orm} ${op}`] = failure
    }
    // Paced, not flat out: the machine's cores are shared with other tests.
    next += intervalMs
    const ahead = next - now()
    if (ahead > 0) await sleep(ahead)
    else next = now()
  }
}

function flush(): void {
  if (reads.length + writes.length + receipts.length + unrecorded.length + confirmations.length === 0) return
  send({ type: 'records', reads, writes, receipts, unrecorded, confirmations })
  reads = []
  writes = []
  receipts = []
  unrecorded = []
  confirmations = []
}

const client = config.orm === 'prisma' ? await prismaClient() : await typeormClient()
await client.open()
// Until its bus subscription is live the engine does not trust its L1: wait, so every read can use it.
await until(() => client.ready(), `the ${config.orm} client and its cache to be ready`, READY_MS)

process.on('message', (message: ToWorker) => {
  if (message.type === 'die-holding-lock') {
    dieAtNextLoad = true
    return
  }
  if (message.type === 'stall') {
    stallAt = { ms: message.ms, when: message.when }
    return
  }
  if (message.type === 'start') {
    const flusher = setInterval(flush, FLUSH_INTERVAL_MS)
    void Promise.all(Array.from({ length: config.concurrency }, () => loop(client, message.endAt))).then(() => {
      clearInterval(flusher)
      flush()
      send({ type: 'finished', rolledBack, aborted, failures })
    })
    return
  }
  void stop()
})

async function stop(): Promise<void> {
  // An invalidation still pending is resent within about a second: when Redis took it is part of the history.
  const deadline = now() + PENDING_WAIT_MS
  while (confirming !== undefined && now() < deadline) await sleep(10)
  // Receipts of the others' last writes keep arriving until the parent says every worker has finished.
  flush()
  const stats = client.stats()
  await client.close()
  cluster?.disconnect()
  send({ type: 'stopped', stats, unattributedInvalidations })
  process.disconnect()
}
send({ type: 'ready' })
