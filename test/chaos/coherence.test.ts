// The coherence checker's short run, in `npm test`: four processes, two Prisma
// and two TypeORM, on one schema and one Redis prefix for a few seconds, each
// ORM on rows of its own (see RowSharing in worker.ts). The long run is
// `npm run test:chaos` (coherence.chaos.ts).
import { expect, test } from 'vitest'
import { DEFAULT_OPTIONS, formatReport, runChaos } from './run.js'

const DURATION_MS = Number(process.env.ORMCACHE_CHAOS_SHORT_MS ?? 10_000)

test(`four processes, Prisma and TypeORM, ${DURATION_MS / 1_000} s of Zipf-skewed reads and writes: no stale read, no lost write`, async () => {
  const seed = Number(process.env.ORMCACHE_CHAOS_SEED ?? Math.floor(Math.random() * 1_000_000))
  const report = await runChaos({
    ...DEFAULT_OPTIONS,
    workers: ['prisma', 'typeorm', 'prisma', 'typeorm'],
    durationMs: DURATION_MS,
    rate: 250,
    seed,
  })
  console.log(formatReport(report))
  expect(report.violations.map((violation, index) => report.violationReports[index] ?? violation.read.op)).toEqual([])
  expect(report.lostWrites).toEqual([])
  expect(report.failures).toEqual({})
  // Enough happened, and the caches served enough of it, for "no stale read" to mean something.
  // Floors for a loaded 2-core machine, where a worker makes some 50 operations a second, not 250.
  expect(report.writes).toBeGreaterThan(100)
  expect(report.reads).toBeGreaterThan(800)
  expect(report.origins.l1).toBeGreaterThan(report.reads * 0.1)
  expect(report.origins.l2).toBeGreaterThan(report.reads * 0.05)
  // Every write reached the three other workers, and the deliveries were paired with it.
  expect(report.lag.count).toBeGreaterThanOrEqual(report.writes * 3 * 0.9)
}, 90_000)
