// One fault scenario as a test: the checker run with the fault injected, its
// summary printed, and what must hold whatever Redis does: no stale read, no
// lost write, no failed application request (the database serves when the
// cache cannot). Latency during the fault is reported, not asserted: a timed
// assertion would flake on a loaded machine.
import { expect, test } from 'vitest'
import { type Fault, type FaultSummary, summarizeFault } from './faults.js'
import { DEFAULT_OPTIONS, formatReport, runChaos } from './run.js'
import type { Orm } from './worker.js'

/** Short enough that a read gives up on a stalled Redis quickly, long enough for a loaded machine's round trips. */
export const FAULT_TIMEOUT_MS = 200
/** How long a pause or a sleep stalls Redis: five timeouts. */
export const FAULT_STALL_MS = 5 * FAULT_TIMEOUT_MS

/** Runs `fault`, hands its summary to `record` (kept even when an assertion then fails), asserts. */
export async function checkFault(
  fault: Fault,
  durationMs: number,
  workers: readonly Orm[],
  record: (summary: FaultSummary, firstViolation: string | undefined) => void = () => {},
): Promise<FaultSummary> {
  const seed = Number(process.env.ORMCACHE_CHAOS_SEED ?? Math.floor(Math.random() * 1_000_000))
  const timeoutMs = fault.cacheTimeoutMs ?? FAULT_TIMEOUT_MS
  const report = await runChaos({
    ...DEFAULT_OPTIONS,
    workers: fault.workers ?? workers,
    durationMs,
    rate: 200,
    concurrency: fault.concurrency ?? DEFAULT_OPTIONS.concurrency,
    seed,
    cacheTimeoutMs: timeoutMs,
    fault,
  })
  const summary = summarizeFault(fault, report, report.faultWindows, timeoutMs)
  console.log(`${fault.name}:\n${formatReport(report)}\n  ${JSON.stringify(summary)}`)
  record(summary, report.violationReports[0])
  expect(report.violations.map((violation, index) => report.violationReports[index] ?? violation.read.op)).toEqual([])
  expect(report.lostWrites).toEqual([])
  expect(report.failures).toEqual({})
  // A write that returned before Redis had its invalidation allows stale reads elsewhere until Redis
  // has it: that must come (the writer resends it), or the window would never close.
  expect(report.lateInvalidations.confirmed, 'late invalidations confirmed').toBe(report.lateInvalidations.count)
  expect(report.stats.map((stats) => stats.pendingInvalidations)).toEqual(report.stats.map(() => 0))
  expect(summary.readsDuringFault).toBeGreaterThan(0)
  return summary
}

const SHORT_MS = Number(process.env.ORMCACHE_FAULTS_SHORT_MS ?? 4_000)

/** The short run of `npm test`: each fault in turn, two workers (Prisma and TypeORM) for a few seconds. */
export function shortFaultTests(faults: readonly Fault[]): void {
  for (const fault of faults) {
    test(`${fault.name}: no stale read, no lost write, no failed request`, async () => {
      await checkFault(fault, SHORT_MS, ['prisma', 'typeorm'])
    }, 60_000)
  }
}
