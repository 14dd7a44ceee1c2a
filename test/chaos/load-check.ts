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
 * A leak of one retained row per operation kept ~700 heap bytes per
 * operation (10-20 MiB a minute at this machine's rate; tried once, not
 * kept). After a GC, a healthy worker's heap kept ~10 bytes per operation
 * over 2 minutes (0.1-0.2 MiB a minute) and 60-130 in a 16 s run, where
 * the end of warm-up weighs more. The bounds sit between: heap bytes per
 * operation after warm-up (the slope of a linear fit over the operation
 * rate, so a faster or slower machine moves both sides alike), and the last
 * quarter's mean over the second's in MiB.
 */
export interface HeapLimits {
  bytesPerOperation: number
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
    expect(figures.distinctRowsRead, 'rows read beyond what L1 holds: it evicted').toBeGreaterThan(
      figures.maxL1Entries * 1.5,
    )
    expect(figures.final.l1Hits, 'L1 served').toBeGreaterThan(0)
    expect(figures.heapBytesPerOperation, `${figures.orm} heap bytes kept per operation`).toBeLessThan(
      heap.bytesPerOperation,
    )
    expect(figures.heapLastQuarterMiB - figures.heapSecondQuarterMiB, `${figures.orm} heap growth MiB`).toBeLessThan(
      heap.growthMiB,
    )
  }
}

export { LOAD_DEFAULTS }
