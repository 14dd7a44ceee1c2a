import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { Redis } from 'ioredis'
import { expect } from 'vitest'
import { LOAD_DEFAULTS, runLoad } from '../../benchmarks/scenarios/load.js'
import { type LoadReport, loadMarkdown } from '../../benchmarks/scenarios/load-report.js'
import { TYPESCRIPT_EXEC_ARGV } from '../fixtures/typescript-workers.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'

/**
 * The load run from a test: its workers run the sources (TypeScript hooks)
 * with --expose-gc, on a key prefix of the test's own; prints the Markdown
 * report and writes it to `resultsFile` when given.
 */
export async function loadRun(durationMs: number, resultsFile?: string): Promise<LoadReport> {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const prefix = uniquePrefix('load')
  const loadBefore = loadavg()
  const startedAt = new Date()
  try {
    const report = await runLoad({
      redisUrl,
      prefix,
      durationMs,
      execArgv: [...TYPESCRIPT_EXEC_ARGV, '--expose-gc'],
    })
    const loadAfter = loadavg()
    const conditions =
      `Run ${startedAt.toISOString().slice(0, 16)} UTC on ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Node ${process.version}, ` +
      `PostgreSQL and Redis on the same machine, shared with other jobs (load average ${loadBefore[0]?.toFixed(1)} before, ` +
      `${loadAfter[0]?.toFixed(1)} after): throughput and latency are this machine's under that load, not a benchmark. ` +
      'Workers run the TypeScript sources; heap is `heapUsed` after `gc()`.'
    const markdown = loadMarkdown(report, conditions)
    console.log(markdown)
    if (report.staleExamples.length > 0) console.log('late reads (first 10):', report.staleExamples)
    if (resultsFile !== undefined) writeFileSync(resultsFile, markdown)
    return report
  } finally {
    const redis = new Redis(redisUrl)
    await deleteKeysWithPrefix(redis, prefix)
    redis.disconnect()
  }
}

/**
 * A leak of one retained row per operation kept ~650 heap bytes per
 * operation, 5-20 MiB a minute at this machine's rates (tried once, not
 * kept). After a GC, a healthy worker's heap still crept by 0.2-0.4 MiB a
 * minute over 2 minutes whatever the rate (10-60 bytes per operation: the
 * more the machine was shared, the fewer operations), and in a 16 s run,
 * where the end of warm-up weighs more, by up to 4 MiB a minute at a high
 * rate and up to 400 bytes per operation at a low one. A worker is taken for leaking only when
 * both figures are past their bound: bytes kept per operation (slope of a
 * linear fit after warm-up over the operation rate) and MiB per minute.
 */
export interface HeapLimits {
  bytesPerOperation: number
  slopeMiBPerMin: number
  growthMiB: number
}

export function expectHealthyLoad(report: LoadReport, heap: HeapLimits): void {
  const failures = report.processes.flatMap((figures) => figures.errors)
  expect(failures, 'failed operations').toEqual([])
  expect(report.processes.map((figures) => figures.failures)).toEqual(report.processes.map(() => 0))
  expect(report.lostExamples, 'lost invalidations: stale reads long after the write').toEqual([])
  expect(report.lostInvalidations).toBe(0)
  expect(report.writes).toBeGreaterThan(report.durationMs / 100)
  // Every sample: L1 stays within its budget, and it is in use near it (so it did evict).
  expect(report.l1BytesSamples.filter((bytes) => bytes > report.l1MaxBytes)).toEqual([])
  for (const figures of report.processes) {
    expect(figures.maxL1Bytes).toBeGreaterThan(report.l1MaxBytes * 0.5)
    expect(figures.distinctRowsRead, 'rows read beyond what L1 holds: it evicted').toBeGreaterThan(figures.maxL1Entries)
    expect(figures.final.l1Hits, 'L1 served').toBeGreaterThan(0)
    const leaking =
      figures.heapBytesPerOperation > heap.bytesPerOperation && figures.heapSlopeMiBPerMin > heap.slopeMiBPerMin
    expect(
      leaking,
      `${figures.orm}: heap kept ${figures.heapBytesPerOperation.toFixed(0)} bytes per operation, ${figures.heapSlopeMiBPerMin.toFixed(2)} MiB/min`,
    ).toBe(false)
    expect(figures.heapLastQuarterMiB - figures.heapSecondQuarterMiB, `${figures.orm} heap growth MiB`).toBeLessThan(
      heap.growthMiB,
    )
  }
}

export { LOAD_DEFAULTS }
