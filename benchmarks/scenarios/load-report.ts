import type { CacheStats } from '../../src/index.js'

/**
 * The load run's figures: what each worker samples every second, and what the
 * parent makes of the samples — per 10 s window throughput, latency, memory;
 * growth after warm-up; L1 size against its budget; stale reads.
 */
export type LoadOrm = 'prisma' | 'typeorm'

export interface LoadGo {
  durationMs: number
  keys: number
  sampleEveryMs: number
}

/** One worker's second: its memory (after a full GC when it can), its cache's stats, and its operations since the last sample. */
/** The cache's figures a worker samples: its L1's size and the counters of how reads were served. */
const SAMPLED_STATS = [
  'l1Bytes',
  'l1Entries',
  'l1Hits',
  'l2Hits',
  'misses',
  'staleRejects',
  'invalidationsReceived',
  'redisErrors',
] as const
export type SampledStats = Pick<CacheStats, (typeof SAMPLED_STATS)[number]>

/** Zeros for a system without stats. */
export function sampledStats(stats: CacheStats | undefined): SampledStats {
  return Object.fromEntries(SAMPLED_STATS.map((name) => [name, stats?.[name] ?? 0])) as unknown as SampledStats
}

export interface LoadSample extends SampledStats {
  /** Since the worker's `go`. */
  elapsedMs: number
  operations: number
  /** Failed operations so far. */
  failures: number
  rss: number
  heapUsed: number
  /** [bucket, count] of the latencies since the last sample; see `latencyBucket`. */
  latency: [number, number][]
  /** Flat [id, version, startMs, endMs, missed] per operation since the last sample. */
  reads: number[]
  writes: number[]
}

/**
 * Prisma and TypeORM tag the same table differently (models against tables),
 * so one's writes do not invalidate the other's reads: each ORM's processes
 * get their own rows, Prisma the odd ids and TypeORM the even ones.
 */
export function rowOf(orm: LoadOrm, key: number): number {
  return orm === 'prisma' ? 2 * key - 1 : 2 * key
}

// Latencies go into logarithmic buckets 5% wide, so per-second histograms of
// all processes add up to exact counts and percentiles within 5%.
const BUCKETS_PER_E = 20
export const latencyBucket = (microseconds: number) => Math.floor(Math.log(Math.max(microseconds, 1)) * BUCKETS_PER_E)
const bucketMicroseconds = (bucket: number) => Math.exp((bucket + 0.5) / BUCKETS_PER_E)

/** Another process's L1 may lag a write by the pub/sub delay, as in the mixed scenario. */
export const STALENESS_ALLOWANCE_MS = 25
/**
 * On a machine with more runnable processes than cores, a reader can be
 * descheduled for a hundred milliseconds and more between reading its
 * sockets and starting a read, so a read past 25 ms can still be late rather
 * than wrong. A lost invalidation does not heal: the old entry stays until
 * evicted, expired or invalidated again. A read more than a second after the
 * write that still sees the old version is taken for one.
 */
export const LOST_INVALIDATION_AFTER_MS = 1_000

export interface ProcessFigures {
  orm: LoadOrm
  operations: number
  failures: number
  errors: string[]
  /** Means of the second and the last quarter of the run (the first is warm-up), MiB. */
  heapSecondQuarterMiB: number
  heapLastQuarterMiB: number
  /** Least-squares slope after warm-up, MiB per minute. */
  heapSlopeMiBPerMin: number
  /** The slope over the operation rate after warm-up: heap kept per operation, a leak's own measure. */
  heapBytesPerOperation: number
  rssSecondQuarterMiB: number
  rssLastQuarterMiB: number
  rssSlopeMiBPerMin: number
  maxL1Bytes: number
  maxL1Entries: number
  /** Rows the process read: more than `maxL1Entries` means L1 evicted. */
  distinctRowsRead: number
  /** The cache's figures at the end of the run. */
  final: SampledStats
}

export interface LoadWindow {
  fromS: number
  toS: number
  operationsPerSecond: number
  p50Ms: number
  p99Ms: number
  /** Mean per process, MiB. */
  rssMiB: number[]
  heapMiB: number[]
}

export interface LoadReport {
  durationMs: number
  l1MaxBytes: number
  gcBeforeSamples: boolean
  processes: ProcessFigures[]
  windows: LoadWindow[]
  reads: number
  writes: number
  stale: number
  maxStaleLagMs: number
  staleExamples: StaleRead[]
  /** Stale reads past LOST_INVALIDATION_AFTER_MS. */
  lostInvalidations: number
  lostExamples: StaleRead[]
  operationsPerSecond: number
  /** Every sample's L1 bytes, to check each against the budget. */
  l1BytesSamples: number[]
}

const MIB = 2 ** 20

export function analyseLoad(
  options: { durationMs: number; l1MaxBytes: number; windowMs: number; gcBeforeSamples: boolean },
  orms: readonly LoadOrm[],
  samples: readonly LoadSample[][],
  outcomes: readonly { failures: number; errors: string[] }[],
): LoadReport {
  const { durationMs, windowMs } = options
  const quarter = durationMs / 4
  const between = (list: readonly LoadSample[], from: number, to: number) =>
    list.filter((sample) => sample.elapsedMs >= from && sample.elapsedMs < to)
  const processes = samples.map((list, index): ProcessFigures => {
    const last = list.at(-1)
    const afterWarmUp = between(list, quarter, Number.POSITIVE_INFINITY)
    const rows = new Set<number>()
    for (const sample of list) for (let i = 0; i < sample.reads.length; i += 5) rows.add(sample.reads[i] ?? 0)
    return {
      orm: orms[index] ?? 'prisma',
      operations: list.reduce((sum, sample) => sum + sample.operations, 0),
      failures: outcomes[index]?.failures ?? 0,
      errors: outcomes[index]?.errors ?? [],
      heapSecondQuarterMiB: mean(between(list, quarter, 2 * quarter).map((s) => s.heapUsed)) / MIB,
      heapLastQuarterMiB: mean(between(list, 3 * quarter, Number.POSITIVE_INFINITY).map((s) => s.heapUsed)) / MIB,
      heapSlopeMiBPerMin: slope(afterWarmUp.map((s) => [s.elapsedMs, s.heapUsed])) * (60_000 / MIB),
      heapBytesPerOperation:
        slope(afterWarmUp.map((s) => [s.elapsedMs, s.heapUsed])) /
        (afterWarmUp.slice(1).reduce((sum, s) => sum + s.operations, 0) /
          Math.max((afterWarmUp.at(-1)?.elapsedMs ?? 0) - (afterWarmUp[0]?.elapsedMs ?? 0), 1)),
      rssSecondQuarterMiB: mean(between(list, quarter, 2 * quarter).map((s) => s.rss)) / MIB,
      rssLastQuarterMiB: mean(between(list, 3 * quarter, Number.POSITIVE_INFINITY).map((s) => s.rss)) / MIB,
      rssSlopeMiBPerMin: slope(afterWarmUp.map((s) => [s.elapsedMs, s.rss])) * (60_000 / MIB),
      maxL1Bytes: Math.max(0, ...list.map((s) => s.l1Bytes)),
      maxL1Entries: Math.max(0, ...list.map((s) => s.l1Entries)),
      distinctRowsRead: rows.size,
      final: last ?? sampledStats(undefined),
    }
  })
  const windows: LoadWindow[] = []
  for (let from = 0; from < durationMs; from += windowMs) {
    const inWindow = samples.map((list) => between(list, from, Math.min(from + windowMs, durationMs)))
    // The final sample, taken as the deadline passes, belongs to the last window.
    if (from + windowMs >= durationMs) {
      samples.forEach((list, index) => {
        const final = list.at(-1)
        if (final !== undefined && final.elapsedMs >= durationMs) inWindow[index]?.push(final)
      })
    }
    const histogram = new Map<number, number>()
    for (const list of inWindow) {
      for (const sample of list) {
        for (const [bucket, count] of sample.latency) histogram.set(bucket, (histogram.get(bucket) ?? 0) + count)
      }
    }
    const operations = inWindow.flat().reduce((sum, sample) => sum + sample.operations, 0)
    const seconds = (Math.min(from + windowMs, durationMs) - from) / 1_000
    windows.push({
      fromS: from / 1_000,
      toS: Math.min(from + windowMs, durationMs) / 1_000,
      operationsPerSecond: operations / seconds,
      p50Ms: percentile(histogram, 0.5) / 1_000,
      p99Ms: percentile(histogram, 0.99) / 1_000,
      rssMiB: inWindow.map((list) => mean(list.map((s) => s.rss)) / MIB),
      heapMiB: inWindow.map((list) => mean(list.map((s) => s.heapUsed)) / MIB),
    })
  }
  const numbered = samples.flatMap((list, index) => list.map((sample) => ({ ...sample, process: index + 1 })))
  const { reads, writes, stale, maxLagMs, examples } = countStaleReads(numbered)
  const lost = countStaleReads(numbered, LOST_INVALIDATION_AFTER_MS)
  const operations = processes.reduce((sum, figures) => sum + figures.operations, 0)
  return {
    durationMs,
    l1MaxBytes: options.l1MaxBytes,
    gcBeforeSamples: options.gcBeforeSamples,
    processes,
    windows,
    reads,
    writes,
    stale,
    maxStaleLagMs: maxLagMs,
    staleExamples: examples,
    lostInvalidations: lost.stale,
    lostExamples: lost.examples,
    operationsPerSecond: operations / (durationMs / 1_000),
    l1BytesSamples: samples.flat().map((sample) => sample.l1Bytes),
  }
}

/**
 * Stale: a read that started more than the allowance after some write of its
 * row had returned (in any process), yet saw an older version — an
 * invalidation lost. The mixed scenario's rule; indexed here (writes of a row
 * by end time, with the running maximum version) since a 2-minute run has
 * too many reads of a hot row to compare with each of its writes.
 */
export function countStaleReads(
  samples: readonly (Pick<LoadSample, 'reads' | 'writes'> & { process?: number })[],
  allowanceMs = STALENESS_ALLOWANCE_MS,
) {
  const writesByRow = new Map<number, { endMs: number; version: number; process: number }[]>()
  let writes = 0
  const examples: StaleRead[] = []
  for (const sample of samples) {
    for (let i = 0; i < sample.writes.length; i += 5) {
      const id = sample.writes[i] ?? 0
      const list = writesByRow.get(id) ?? []
      list.push({ version: sample.writes[i + 1] ?? 0, endMs: sample.writes[i + 3] ?? 0, process: sample.process ?? 0 })
      writesByRow.set(id, list)
      writes++
    }
  }
  const indexByRow = new Map<
    number,
    { endMs: Float64Array; maxVersion: Float64Array; writes: { version: number; process: number }[] }
  >()
  for (const [id, list] of writesByRow) {
    list.sort((a, b) => a.endMs - b.endMs)
    const endMs = Float64Array.from(list, (write) => write.endMs)
    const maxVersion = new Float64Array(list.length)
    list.forEach((write, i) => {
      maxVersion[i] = Math.max(write.version, i > 0 ? (maxVersion[i - 1] ?? 0) : 0)
    })
    indexByRow.set(id, { endMs, maxVersion, writes: list })
  }
  let reads = 0
  let stale = 0
  let maxLagMs = 0
  for (const sample of samples) {
    for (let i = 0; i < sample.reads.length; i += 5) {
      reads++
      const index = indexByRow.get(sample.reads[i] ?? 0)
      if (index === undefined) continue
      const version = sample.reads[i + 1] ?? 0
      const cutoff = (sample.reads[i + 2] ?? 0) - allowanceMs
      // The writes that had returned by the cutoff are a prefix: the last of them by binary search.
      let low = 0
      let high = index.endMs.length
      while (low < high) {
        const middle = (low + high) >>> 1
        if ((index.endMs[middle] ?? 0) < cutoff) low = middle + 1
        else high = middle
      }
      if (low > 0 && (index.maxVersion[low - 1] ?? 0) > version) {
        stale++
        // The earliest write this read missed: how long it had been visible.
        let first = 0
        while ((index.maxVersion[first] ?? 0) <= version) first++
        const lagMs = cutoff + allowanceMs - (index.endMs[first] ?? 0)
        maxLagMs = Math.max(maxLagMs, lagMs)
        if (examples.length < 10) {
          examples.push({
            id: sample.reads[i] ?? 0,
            seen: version,
            written: index.writes[first]?.version ?? 0,
            lagMs,
            reader: sample.process ?? 0,
            writer: index.writes[first]?.process ?? 0,
            missed: sample.reads[i + 4] === 1,
          })
        }
      }
    }
  }
  return { reads, writes, stale, maxLagMs, examples }
}

/** A stale read, for the report: its row, the version it saw, the first newer one written, by which processes. */
export interface StaleRead {
  id: number
  seen: number
  written: number
  /** From that write's return to the read's start. */
  lagMs: number
  reader: number
  writer: number
  /** The read went to the database. */
  missed: boolean
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length
}

/** Least-squares slope of y over x. */
function slope(points: readonly (readonly [number, number])[]): number {
  const meanX = mean(points.map(([x]) => x))
  const meanY = mean(points.map(([, y]) => y))
  let covariance = 0
  let variance = 0
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY)
    variance += (x - meanX) ** 2
  }
  return variance === 0 ? 0 : covariance / variance
}

function percentile(histogram: ReadonlyMap<number, number>, fraction: number): number {
  const buckets = [...histogram].sort(([a], [b]) => a - b)
  const total = buckets.reduce((sum, [, count]) => sum + count, 0)
  let seen = 0
  for (const [bucket, count] of buckets) {
    seen += count
    if (seen >= total * fraction) return bucketMicroseconds(bucket)
  }
  return Number.NaN
}

const figure = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–')

/** The report as Markdown: the run's verdicts, then per process, then per window. */
export function loadMarkdown(report: LoadReport, conditions: string): string {
  const budgetKiB = report.l1MaxBytes / 1024
  const failed = report.processes.reduce((sum, figures) => sum + figures.failures, 0)
  const maxL1 = Math.max(...report.l1BytesSamples)
  const lines = [
    `Load: ${report.processes.length} processes (${report.processes.map((figures) => figures.orm).join(', ')}), ormcache, ` +
      `Zipf keys, 95% reads / 5% writes, ${report.durationMs / 1_000} s, L1 budget ${figure(budgetKiB, 0)} KiB per process` +
      `${report.gcBeforeSamples ? ', heap sampled after a full GC each second' : ''}.`,
    '',
    conditions,
    '',
    '| | |',
    '|---|---|',
    `| throughput | ${Math.round(report.operationsPerSecond).toLocaleString('en')} ops/s (all processes) |`,
    `| operations | ${report.reads.toLocaleString('en')} reads, ${report.writes.toLocaleString('en')} writes |`,
    `| lost invalidations (stale reads > ${LOST_INVALIDATION_AFTER_MS / 1_000} s after the write) | ${report.lostInvalidations} |`,
    `| late invalidations (stale reads > ${STALENESS_ALLOWANCE_MS} ms after the write) | ${report.stale}${report.stale > 0 ? ` (up to ${figure(report.maxStaleLagMs, 0)} ms after the write)` : ''} |`,
    `| failed operations | ${failed} |`,
    `| max L1 bytes / budget | ${figure(maxL1 / 1024)} KiB / ${figure(budgetKiB, 0)} KiB (${report.l1BytesSamples.length} samples, ${report.l1BytesSamples.filter((bytes) => bytes > report.l1MaxBytes).length} over) |`,
    `| heap growth after warm-up | ${report.processes.map((figures) => `${signed(figures.heapLastQuarterMiB - figures.heapSecondQuarterMiB)} MiB`).join(', ')} (last quarter − second quarter) |`,
    `| heap slope after warm-up | ${report.processes.map((figures) => `${signed(figures.heapSlopeMiBPerMin, 2)}`).join(', ')} MiB/min (${report.processes.map((figures) => signed(figures.heapBytesPerOperation, 0)).join(', ')} bytes per operation) |`,
    `| RSS growth after warm-up | ${report.processes.map((figures) => `${signed(figures.rssLastQuarterMiB - figures.rssSecondQuarterMiB)} MiB`).join(', ')} |`,
    '',
    '| process | ORM | ops | hits L1 / L2 / misses | heap MiB Q2 → Q4 (slope /min) | RSS MiB Q2 → Q4 (slope /min) | max L1 KiB (entries) | rows read |',
    '|---|---|---:|---|---|---|---|---:|',
    ...report.processes.map(
      (figures, index) =>
        `| ${index + 1} | ${figures.orm} | ${figures.operations.toLocaleString('en')} | ` +
        `${figures.final.l1Hits.toLocaleString('en')} / ${figures.final.l2Hits.toLocaleString('en')} / ${figures.final.misses.toLocaleString('en')} | ` +
        `${figure(figures.heapSecondQuarterMiB)} → ${figure(figures.heapLastQuarterMiB)} (${signed(figures.heapSlopeMiBPerMin, 2)}) | ` +
        `${figure(figures.rssSecondQuarterMiB)} → ${figure(figures.rssLastQuarterMiB)} (${signed(figures.rssSlopeMiBPerMin, 2)}) | ` +
        `${figure(figures.maxL1Bytes / 1024)} (${figures.maxL1Entries}) | ${figures.distinctRowsRead} |`,
    ),
    '',
    `| window s | ops/s | p50 ms | p99 ms | RSS MiB per process | heap MiB per process |`,
    '|---|---:|---:|---:|---|---|',
    ...report.windows.map(
      (window) =>
        `| ${window.fromS}–${window.toS} | ${Math.round(window.operationsPerSecond).toLocaleString('en')} | ` +
        `${figure(window.p50Ms, 2)} | ${figure(window.p99Ms, 2)} | ${window.rssMiB.map((value) => figure(value, 0)).join(' / ')} | ` +
        `${window.heapMiB.map((value) => figure(value)).join(' / ')} |`,
    ),
    '',
    'Latency percentiles from logarithmic histograms (±5%); memory means of the per-second samples.',
  ]
  return `${lines.join('\n')}\n`
}

const signed = (value: number, digits = 1) => `${value >= 0 ? '+' : ''}${figure(value, digits)}`
