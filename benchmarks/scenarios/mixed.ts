import { Redis } from 'ioredis'
import type { BenchDatabase } from '../fixtures/database.js'
import { CACHES } from '../fixtures/systems.js'
import { PROCESSES, runWorkers } from '../fixtures/workers.js'
import type { Run } from '../harness.js'
import { QUICK_CACHES } from './quick.js'
import { deleteMatching } from './reads.js'

const KEYS = 1_000
/** Another process's L1 may lag a write by the pub/sub delay; a read later than this after a write is stale. */
const STALENESS_ALLOWANCE_MS = 25

interface WorkerReport {
  reads: number[]
  writes: number[]
  latenciesUs: number[]
  failures: number
}

/**
 * 4 processes, Zipf-distributed keys, 95% reads and 5% writes for a fixed
 * time, per cache: throughput, latency, hit ratio, and stale reads — a read
 * that began more than 25 ms after a write of its row had returned, in any
 * process, yet saw an older version.
 */
export async function mixedScenario(
  run: Run,
  database: BenchDatabase,
  redisUrl: string,
  orms: readonly string[],
): Promise<void> {
  const durationMs = run.quick ? 1_500 : 10_000
  const scenario = `mixed: ${PROCESSES} processes, Zipf keys, 95% reads / 5% writes, ${durationMs / 1000} s, ${database.kind}`
  const admin = new Redis(redisUrl)
  try {
    for (const [name, { orm }] of Object.entries(CACHES)) {
      if (!orms.includes(orm) || (run.quick && !QUICK_CACHES.has(name))) continue
      run.progress.label(`${scenario}: ${name}`)
      const prefix = `bench-${process.pid}-mixed-${name.replace(/\W+/g, '-')}`
      const reports = await runWorkers<WorkerReport>(
        'mixed-worker',
        { database, cache: name, redisUrl, prefix },
        { durationMs, keys: KEYS },
        (index) => [String(1_000 + index)],
        { workMs: durationMs },
      )
      const latencies = reports.flatMap((report) => report.latenciesUs)
      const operations = latencies.length
      const { reads, misses, stale, maxLagMs } = checkStaleness(reports)
      const floor = name === `${orm} uncached` ? undefined : `${orm} uncached`
      run.record(scenario, name, latencies, floor, operations / (durationMs / 1_000))
      run.note(
        scenario,
        name,
        `${operations.toLocaleString('en')} operations, hit ratio ${((1 - misses / Math.max(reads, 1)) * 100).toFixed(1)}%, ` +
          `${stale} stale reads${stale > 0 ? ` (up to ${maxLagMs.toFixed(0)} ms after the write)` : ''}` +
          `${reports.some((report) => report.failures > 0) ? `, ${reports.reduce((sum, report) => sum + report.failures, 0)} failed` : ''}`,
      )
      await deleteMatching(admin, `*${prefix}*`)
    }
  } finally {
    admin.disconnect()
  }
}

/** Stale: a read that started past the allowance after some write of its row returned, with an older version. */
export function checkStaleness(reports: readonly WorkerReport[]) {
  const latestByRow = new Map<number, { version: number; endMs: number }[]>()
  for (const { writes } of reports) {
    for (let i = 0; i < writes.length; i += 5) {
      const [id, version, , endMs] = writes.slice(i, i + 4) as [number, number, number, number]
      const list = latestByRow.get(id) ?? []
      list.push({ version, endMs })
      latestByRow.set(id, list)
    }
  }
  let reads = 0
  let misses = 0
  let stale = 0
  let maxLagMs = 0
  for (const report of reports) {
    for (let i = 0; i < report.reads.length; i += 5) {
      const [id, version, startMs, , missed] = report.reads.slice(i, i + 5) as [number, number, number, number, number]
      reads++
      misses += missed
      for (const write of latestByRow.get(id) ?? []) {
        const lagMs = startMs - write.endMs
        if (lagMs > STALENESS_ALLOWANCE_MS && write.version > version) {
          stale++
          maxLagMs = Math.max(maxLagMs, lagMs)
          break
        }
      }
    }
  }
  return { reads, misses, stale, maxLagMs }
}
