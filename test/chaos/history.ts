// The coherence checker's history and the checker itself, a pure function.
// Times are `performance.timeOrigin + performance.now()` in each worker: one
// machine, one clock, comparable across processes to well under a millisecond.

/** Where a read was served from (Prisma's `$cache.withInfo` origins; TypeORM's from the hit events). */
export type Origin = 'l1' | 'l2' | 'database' | 'stale' | 'bypass' | 'flight'

/**
 * Served from this process's memory, which hears of other processes' writes
 * over the bus: L1, L1 past its ttl (swr), or a load already under way here
 * that the read joined (`flight`: the engine lets a caller join only while no
 * invalidation of its tags has arrived, the same window as L1's).
 */
export function fromMemory(origin: Origin): boolean {
  return origin === 'l1' || origin === 'stale' || origin === 'flight'
}

/** What one read saw of some rows: the sum of their versions (one row: its version). */
export interface Observation {
  readonly rows: readonly number[]
  readonly versionSum: number
}

export interface ReadRecord {
  readonly worker: number
  /** `by-id`, `list` or `sum`, prefixed with the ORM. */
  readonly op: string
  readonly origin: Origin
  readonly start: number
  readonly end: number
  readonly seen: readonly Observation[]
}

export interface WriteRecord {
  readonly worker: number
  readonly op: string
  readonly start: number
  /** When the write call returned: its transaction had committed. */
  readonly end: number
  /** Each row the write changed and the version it gave it. */
  readonly versions: readonly { readonly row: number; readonly version: number }[]
  /** The invalidations this write published (`ormcache:invalidate` with origin `local`, in its async context). */
  readonly invalidations: readonly { readonly at: number; readonly tags: string }[]
  /**
   * Set when Redis had not confirmed the write's invalidation when the write returned (no answer
   * within the timeout, no connection): when the writer's cache gave up waiting (its `redis-error`
   * event, in the write's async context). The write returned all the same; the cache resends it.
   */
  readonly invalidationFailedAt?: number
}

/** A moment a worker's cache had no invalidation left that Redis had not confirmed (`pendingInvalidations` back to 0). */
export interface Confirmation {
  readonly worker: number
  readonly at: number
}

/** An invalidation a worker published outside any recorded write (a rolled-back or aborted one, say). */
export interface UnrecordedInvalidation {
  readonly worker: number
  readonly at: number
  readonly tags: string
}

/** An invalidation a worker received from another process (origin `remote`). */
export interface Receipt {
  readonly worker: number
  readonly at: number
  /** The tags as published, JSON-encoded: the pairing key with the sender's invalidation. */
  readonly tags: string
}

export interface Delivery {
  readonly write: WriteRecord
  readonly receiver: number
  /** When the last of the write's invalidations reached `receiver`. */
  readonly at: number
}

/**
 * Pairs every write's invalidations with their arrival at every other worker.
 * Redis delivers pub/sub messages to each subscriber in publish order, so the
 * n-th receipt of a tag set at a worker is the n-th invalidation of that tag
 * set by the others (in the order they published: their local events, which
 * come just before the publishing script). Two writers invalidating the same
 * tags at nearly the same moment may be paired crosswise; either message then
 * invalidates the same entries, so the pairing still says when the receiver
 * stopped serving what both writes replaced.
 */
export function pairDeliveries(
  writes: readonly WriteRecord[],
  receipts: readonly Receipt[],
  unrecorded: readonly UnrecordedInvalidation[] = [],
): Delivery[] {
  // Unrecorded invalidations take their place in each receiver's sequence, so the ones after them pair right.
  const sent: { write?: WriteRecord; worker: number; at: number; tags: string }[] = [
    ...writes.flatMap((write) =>
      write.invalidations.map((invalidation) => ({ write, worker: write.worker, ...invalidation })),
    ),
    ...unrecorded,
  ].sort((a, b) => a.at - b.at)
  const arrivals = new Map<string, number[]>()
  for (const receipt of [...receipts].sort((a, b) => a.at - b.at)) {
    const key = `${receipt.worker} ${receipt.tags}`
    const list = arrivals.get(key) ?? []
    list.push(receipt.at)
    arrivals.set(key, list)
  }
  const workers = new Set(receipts.map((receipt) => receipt.worker))
  for (const write of writes) workers.add(write.worker)
  const consumed = new Map<string, number>()
  const latest = new Map<WriteRecord, Map<number, number>>()
  for (const invalidation of sent) {
    for (const receiver of workers) {
      if (receiver === invalidation.worker) continue
      const key = `${receiver} ${invalidation.tags}`
      const index = consumed.get(key) ?? 0
      const at = arrivals.get(key)?.[index]
      if (at === undefined) continue
      consumed.set(key, index + 1)
      if (invalidation.write === undefined) continue
      const byReceiver = latest.get(invalidation.write) ?? new Map<number, number>()
      byReceiver.set(receiver, Math.max(byReceiver.get(receiver) ?? Number.NEGATIVE_INFINITY, at))
      latest.set(invalidation.write, byReceiver)
    }
  }
  return [...latest].flatMap(([write, byReceiver]) =>
    [...byReceiver].map(([receiver, at]) => ({ write, receiver, at })),
  )
}

/**
 * For each write whose invalidation Redis had not confirmed when it returned, when it had: the
 * writer's first confirmation after the failure (a resend confirmed covers every invalidation the
 * cache had pending when it was sent). Writes never confirmed are missing from the map.
 */
export function confirmationTimes(
  writes: readonly WriteRecord[],
  confirmations: readonly Confirmation[],
): Map<WriteRecord, number> {
  const byWorker = new Map<number, number[]>()
  for (const { worker, at } of confirmations) {
    const list = byWorker.get(worker) ?? []
    list.push(at)
    byWorker.set(worker, list)
  }
  for (const list of byWorker.values()) list.sort((a, b) => a - b)
  const confirmed = new Map<WriteRecord, number>()
  for (const write of writes) {
    if (write.invalidationFailedAt === undefined) continue
    const at = byWorker.get(write.worker)?.find((time) => time >= write.invalidationFailedAt!)
    if (at !== undefined) confirmed.set(write, at)
  }
  return confirmed
}

export interface CheckOptions {
  /** Every row's version before the run. */
  readonly initialVersion: number
  /**
   * How long after a write's invalidation reached Redis another process's memory may still serve
   * what the write replaced. On a single Redis the bus message is in every subscriber's socket when
   * Redis answers the writer, and the engine serves memory only while it has read its sockets within
   * MAX_UNREAD_BUS_MS: that, plus a margin for the clocks of two processes.
   */
  readonly memoryLagMs: number
  /**
   * On a Redis Cluster the message reaches a subscriber on another node over the cluster bus, after
   * Redis answered the writer: there another process's memory may also lag until the write's
   * delivery measured in it, or `unmeasuredLagMs` after the write's invalidation reached Redis when
   * none was. Not for a single Redis, where receipts matched by counting could only blur the bound
   * (a resent invalidation is received twice).
   */
  readonly cluster?: { readonly deliveries: readonly Delivery[]; readonly unmeasuredLagMs: number }
  /** From `confirmationTimes`: when Redis had the invalidations of writes that returned before it did. */
  readonly confirmedAt?: ReadonlyMap<WriteRecord, number>
}

export interface Violation {
  readonly read: ReadRecord
  readonly observation: Observation
  /** The version sum every write committed (and, for L1, delivered) before the read began implies. */
  readonly expectedAtLeast: number
}

export interface CheckResult {
  readonly violations: readonly Violation[]
  /**
   * For each read of one row from memory that returned a version another process had already
   * replaced (allowed: within the bus's delay, or before the write's invalidation reached Redis):
   * how long before the read began the replacing write had returned, in ms.
   */
  readonly l1Staleness: readonly number[]
  /** The same for reads from Redis: only writes that returned before Redis had their invalidation allow them. */
  readonly l2Staleness: readonly number[]
  /** Of those reads (memory and Redis), how many were behind a write that returned before Redis had its invalidation. */
  readonly behindLate: number
}

/** What served a read, as far as when a write must be visible to it is concerned. */
type Tier = 'memory' | 'redis' | 'database'

function tierOf(origin: Origin): Tier {
  if (fromMemory(origin)) return 'memory'
  return origin === 'l2' ? 'redis' : 'database'
}

/** When a write's version must be visible to a read: after it returned; in another process, see `checkHistory`. */
interface Visibility {
  readonly visibleAt: number
  readonly version: number
}

/** Versions of one row ordered by when they become visible, with the running maximum. */
class VisibleVersions {
  readonly #entries: Visibility[] = []
  #sorted: { at: Float64Array; maxVersion: Float64Array } | undefined

  add(entry: Visibility): void {
    this.#entries.push(entry)
    this.#sorted = undefined
  }

  /** The highest version visible by `time` (inclusive), or `floor`. */
  maxBy(time: number, floor: number): number {
    const sorted = this.#build()
    let low = 0
    let high = sorted.at.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (sorted.at[middle]! <= time) low = middle + 1
      else high = middle
    }
    return low === 0 ? floor : Math.max(floor, sorted.maxVersion[low - 1]!)
  }

  /** The earliest visibility time of a version above `version`, if any. */
  firstAbove(version: number): number | undefined {
    let first: number | undefined
    for (const entry of this.#entries) {
      if (entry.version > version && (first === undefined || entry.visibleAt < first)) first = entry.visibleAt
    }
    return first
  }

  #build() {
    if (this.#sorted !== undefined) return this.#sorted
    const entries = this.#entries.toSorted((a, b) => a.visibleAt - b.visibleAt)
    const at = new Float64Array(entries.length)
    const maxVersion = new Float64Array(entries.length)
    let max = Number.NEGATIVE_INFINITY
    entries.forEach((entry, index) => {
      at[index] = entry.visibleAt
      max = Math.max(max, entry.version)
      maxVersion[index] = max
    })
    this.#sorted = { at, maxVersion }
    return this.#sorted
  }
}

/**
 * Flags every read that returned less than what writes committed before it began imply. Versions
 * only grow, so a read of rows R must see at least the sum over R of the highest version visible to
 * it at its start. A write's version is visible from when it returned: to every read of the
 * database, and to every read of the writer's own process (read-your-writes). To another process's
 * reads from Redis, from when its invalidation reached Redis: when the write returned, unless Redis
 * had not confirmed it by then, and then from its confirmation (`confirmedAt`; never, if it was
 * never confirmed). To another process's memory, `memoryLagMs` after that (on a cluster, see
 * `CheckOptions.cluster`).
 */
export function checkHistory(
  reads: readonly ReadRecord[],
  writes: readonly WriteRecord[],
  options: CheckOptions,
): CheckResult {
  const committed = new Map<number, VisibleVersions>()
  // Per reading worker and tier: row → versions by the time they must be visible.
  const visibleTo = new Map<string, Map<number, VisibleVersions>>()
  const readers = new Set(reads.map((read) => read.worker))
  const delivered = new Map<WriteRecord, Map<number, number>>()
  for (const { write, receiver, at } of options.cluster?.deliveries ?? []) {
    const byReceiver = delivered.get(write) ?? new Map<number, number>()
    byReceiver.set(receiver, at)
    delivered.set(write, byReceiver)
  }
  const versionsOf = (map: Map<number, VisibleVersions>, row: number) => {
    let versions = map.get(row)
    if (versions === undefined) {
      versions = new VisibleVersions()
      map.set(row, versions)
    }
    return versions
  }
  const mapOf = (reader: number, tier: Exclude<Tier, 'database'>) => {
    const key = `${reader} ${tier}`
    let map = visibleTo.get(key)
    if (map === undefined) {
      map = new Map<number, VisibleVersions>()
      visibleTo.set(key, map)
    }
    return map
  }
  for (const write of writes) {
    const inRedisAt =
      write.invalidationFailedAt === undefined
        ? write.end
        : (options.confirmedAt?.get(write) ?? Number.POSITIVE_INFINITY)
    const { cluster } = options
    for (const reader of readers) {
      const own = reader === write.worker
      const redisAt = own ? write.end : Math.max(write.end, inRedisAt)
      let memoryAt = own ? write.end : Math.max(write.end, inRedisAt + options.memoryLagMs)
      if (cluster !== undefined && !own) {
        memoryAt = Math.max(memoryAt, delivered.get(write)?.get(reader) ?? inRedisAt + cluster.unmeasuredLagMs)
      }
      for (const { row, version } of write.versions) {
        versionsOf(mapOf(reader, 'redis'), row).add({ visibleAt: redisAt, version })
        versionsOf(mapOf(reader, 'memory'), row).add({ visibleAt: memoryAt, version })
      }
    }
    for (const { row, version } of write.versions) versionsOf(committed, row).add({ visibleAt: write.end, version })
  }

  const lateWrites = new Map<number, { version: number; end: number }[]>()
  for (const write of writes) {
    if (write.invalidationFailedAt === undefined) continue
    for (const { row, version } of write.versions) {
      const list = lateWrites.get(row) ?? []
      list.push({ version, end: write.end })
      lateWrites.set(row, list)
    }
  }
  const violations: Violation[] = []
  const l1Staleness: number[] = []
  const l2Staleness: number[] = []
  let behindLate = 0
  const none = new VisibleVersions()
  for (const read of reads) {
    const tier = tierOf(read.origin)
    const visible = tier === 'database' ? committed : (visibleTo.get(`${read.worker} ${tier}`) ?? new Map())
    for (const observation of read.seen) {
      let expectedAtLeast = 0
      let committedSum = 0
      for (const row of observation.rows) {
        committedSum += (committed.get(row) ?? none).maxBy(read.start, options.initialVersion)
        expectedAtLeast += (visible.get(row) ?? none).maxBy(read.start, options.initialVersion)
      }
      if (observation.versionSum < expectedAtLeast) {
        violations.push({ read, observation, expectedAtLeast })
        continue
      }
      const [row] = observation.rows
      if (
        tier !== 'database' &&
        observation.rows.length === 1 &&
        row !== undefined &&
        observation.versionSum < committedSum
      ) {
        const replacedAt = committed.get(row)?.firstAbove(observation.versionSum)
        if (replacedAt !== undefined) (tier === 'memory' ? l1Staleness : l2Staleness).push(read.start - replacedAt)
        const late = lateWrites.get(row)
        if (late?.some(({ version, end }) => version > observation.versionSum && end <= read.start)) behindLate++
      }
    }
  }
  return { violations, l1Staleness, l2Staleness, behindLate }
}

/** The writes and reads of a violation's rows around it, in time order, for the report. */
export function describeViolation(
  violation: Violation,
  reads: readonly ReadRecord[],
  writes: readonly WriteRecord[],
  deliveries: readonly Delivery[] = [],
  marginMs = 50,
): string {
  const rows = new Set(violation.observation.rows)
  const reader = violation.read.worker
  const reached = new Map(
    deliveries.filter((delivery) => delivery.receiver === reader).map(({ write, at }) => [write, at]),
  )
  const from = violation.read.start - marginMs
  const to = violation.read.end + marginMs
  const near = (start: number, end: number) => end >= from && start <= to
  const relative = (time: number) => `${(time - violation.read.start).toFixed(3).padStart(9)} ms`
  const lines: { at: number; text: string }[] = []
  for (const write of writes) {
    const touched = write.versions.filter(({ row }) => rows.has(row))
    if (touched.length === 0 || !near(write.start, write.end)) continue
    lines.push({
      at: write.end,
      text: `${relative(write.start)} → ${relative(write.end)}  worker ${write.worker} ${write.op} wrote ${touched
        .map(({ row, version }) => `row ${row} = v${version}`)
        .join(
          ', ',
        )}${reached.has(write) ? `, invalidation reached worker ${reader} at ${relative(reached.get(write)!)}` : ''}${
        write.invalidationFailedAt === undefined
          ? ''
          : `, returned before Redis had its invalidation (failed at ${relative(write.invalidationFailedAt)})`
      }`,
    })
  }
  for (const read of reads) {
    if (!near(read.start, read.end)) continue
    const seen = read.seen.filter((observation) => observation.rows.some((row) => rows.has(row)))
    if (seen.length === 0) continue
    const marker = read === violation.read ? '  <== STALE' : ''
    lines.push({
      at: read.end,
      text: `${relative(read.start)} → ${relative(read.end)}  worker ${read.worker} ${read.op} from ${read.origin} saw ${seen
        .map((observation) => `${observation.rows.join('+')} = ${observation.versionSum}`)
        .join(', ')}${marker}`,
    })
  }
  const header =
    `worker ${violation.read.worker} ${violation.read.op} from ${violation.read.origin} saw rows ${violation.observation.rows.join('+')} ` +
    `at version sum ${violation.observation.versionSum}, expected at least ${violation.expectedAtLeast} (times relative to its start):`
  return [header, ...lines.sort((a, b) => a.at - b.at).map((line) => `  ${line.text}`)].join('\n')
}

/** The `p`-th percentile (0-100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = values.toSorted((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
