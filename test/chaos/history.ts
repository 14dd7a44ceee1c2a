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

export interface CheckOptions {
  /** Every row's version before the run. */
  readonly initialVersion: number
  /**
   * How long after a write returned another process's L1 may still serve what
   * it replaced, for writes whose delivery to that process was not measured.
   */
  readonly l1Allowance: number
  readonly deliveries: readonly Delivery[]
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
   * For each L1 read of one row that returned a version another process had
   * already replaced (within the bus delay, so allowed): how long before the
   * read began the replacing write had returned, in ms.
   */
  readonly l1Staleness: readonly number[]
}

/** When a write's version must be visible to a read: after it returned, and in another process's L1 once delivered there. */
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
 * Flags every read that returned less than what writes committed before it
 * began imply. Versions only grow, so a read of rows R must see at least the
 * sum over R of the highest version committed before its start. A write counts
 * from when it returned, for reads from the database, from Redis, and from the
 * writer's own L1 (read-your-writes); for another process's L1 from when the
 * write's invalidation reached that process (measured), or `l1Allowance` after
 * it returned when that was not measured.
 */
export function checkHistory(
  reads: readonly ReadRecord[],
  writes: readonly WriteRecord[],
  options: CheckOptions,
): CheckResult {
  const committed = new Map<number, VisibleVersions>()
  // L1 visibility per reading worker: row → versions by delivery time.
  const inMemoryOf = new Map<number, Map<number, VisibleVersions>>()
  const readers = new Set(reads.map((read) => read.worker))
  const delivered = new Map<WriteRecord, Map<number, number>>()
  for (const { write, receiver, at } of options.deliveries) {
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
  for (const write of writes) {
    for (const { row, version } of write.versions) {
      versionsOf(committed, row).add({ visibleAt: write.end, version })
      for (const reader of readers) {
        const memory = inMemoryOf.get(reader) ?? new Map<number, VisibleVersions>()
        inMemoryOf.set(reader, memory)
        const visibleAt =
          reader === write.worker
            ? write.end
            : Math.max(write.end, delivered.get(write)?.get(reader) ?? write.end + options.l1Allowance)
        versionsOf(memory, row).add({ visibleAt, version })
      }
    }
  }

  const violations: Violation[] = []
  const l1Staleness: number[] = []
  const none = new VisibleVersions()
  for (const read of reads) {
    const memoryServed = fromMemory(read.origin)
    const memory = inMemoryOf.get(read.worker)
    for (const observation of read.seen) {
      let expectedAtLeast = 0
      let committedSum = 0
      for (const row of observation.rows) {
        const versions = committed.get(row) ?? none
        committedSum += versions.maxBy(read.start, options.initialVersion)
        expectedAtLeast += memoryServed
          ? (memory?.get(row) ?? none).maxBy(read.start, options.initialVersion)
          : versions.maxBy(read.start, options.initialVersion)
      }
      if (observation.versionSum < expectedAtLeast) {
        violations.push({ read, observation, expectedAtLeast })
        continue
      }
      const [row] = observation.rows
      if (memoryServed && observation.rows.length === 1 && row !== undefined && observation.versionSum < committedSum) {
        const replacedAt = committed.get(row)?.firstAbove(observation.versionSum)
        if (replacedAt !== undefined) l1Staleness.push(read.start - replacedAt)
      }
    }
  }
  return { violations, l1Staleness }
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
        )}${reached.has(write) ? `, invalidation reached worker ${reader} at ${relative(reached.get(write)!)}` : ''}`,
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
