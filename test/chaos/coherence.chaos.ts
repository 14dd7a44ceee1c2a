// The coherence checker's long run: `npm run test:chaos`. Not part of
// `npm test` (its own vitest config, and no `.test.ts` name). Configured by
// environment:
//   ORMCACHE_CHAOS_WORKERS   ORMs of the worker processes, comma-separated (default prisma,typeorm,prisma,typeorm)
//   ORMCACHE_CHAOS_SECONDS   how long the workers run (default 60)
//   ORMCACHE_CHAOS_RATE      operations per second per worker (default 400)
//   ORMCACHE_CHAOS_ROWS      rows in the table (default 300)
//   ORMCACHE_CHAOS_SEED      seed of the workers' choices (default random, printed)
//   ORMCACHE_CHAOS_ROWS_OF   `by-orm` (default: Prisma and TypeORM workers on different rows) or `shared`
//                            (every worker on every row: shows that one ORM's writes do not invalidate
//                            the other's reads, whose tags differ)
import { expect, test } from 'vitest'
import { checkHistory, confirmationTimes, describeViolation } from './history.js'
import { DEFAULT_OPTIONS, formatReport, runChaos } from './run.js'
import { INITIAL_VERSION } from './table.js'
import type { Orm } from './worker.js'

const env = process.env
const workers = (env.ORMCACHE_CHAOS_WORKERS ?? 'prisma,typeorm,prisma,typeorm').split(',').map((orm) => {
  if (orm !== 'prisma' && orm !== 'typeorm') throw new Error(`ORMCACHE_CHAOS_WORKERS: unknown ORM ${orm}`)
  return orm as Orm
})
const seconds = Number(env.ORMCACHE_CHAOS_SECONDS ?? 60)
const rate = Number(env.ORMCACHE_CHAOS_RATE ?? DEFAULT_OPTIONS.rate)
const rows = Number(env.ORMCACHE_CHAOS_ROWS ?? DEFAULT_OPTIONS.rows)
const rowsOf = env.ORMCACHE_CHAOS_ROWS_OF ?? DEFAULT_OPTIONS.rowsOf
if (rowsOf !== 'shared' && rowsOf !== 'by-orm') throw new Error(`ORMCACHE_CHAOS_ROWS_OF: ${rowsOf}`)
const seed = Number(env.ORMCACHE_CHAOS_SEED ?? Math.floor(Math.random() * 1_000_000))

test(
  `${workers.length} processes, ${seconds} s of Zipf-skewed reads and writes: no stale read, no lost write`,
  async () => {
    const report = await runChaos({
      ...DEFAULT_OPTIONS,
      workers,
      durationMs: seconds * 1_000,
      rate,
      rows,
      rowsOf,
      seed,
    })
    console.log(formatReport(report))
    expect(report.violations.length, 'stale reads').toBe(0)
    expect(report.lostWrites).toEqual([])
    expect(report.failures).toEqual({})
    expect(report.writes).toBeGreaterThan(seconds * 20)
    expect(report.origins.l1 + report.origins.l2).toBeGreaterThan(report.reads * 0.2)
  },
  (seconds + 240) * 1_000,
)

// The checker catches stale reads of real components: with every worker on
// every row, one ORM's writes do not invalidate the other's cached reads (the
// adapters' tag vocabularies differ: Prisma tags models, TypeORM tables), so
// there must be stale reads, and every one of them must be explained by the
// other ORM's writes alone: checked against its own ORM's writes, none.
test('Prisma and TypeORM on the same rows: the checker flags the reads the other ORM made stale, only those', async () => {
  const orms: Orm[] = ['prisma', 'typeorm', 'prisma', 'typeorm']
  const report = await runChaos({
    ...DEFAULT_OPTIONS,
    workers: orms,
    durationMs: 10_000,
    rate,
    rows,
    rowsOf: 'shared',
    seed,
  })
  console.log(formatReport(report).split('\n').slice(0, 8).join('\n'))
  expect(report.violations.length).toBeGreaterThan(0)
  expect(report.lostWrites).toEqual([])
  const { reads, writes, deliveries, confirmations } = report.history
  for (const orm of ['prisma', 'typeorm'] as const) {
    const ours = (worker: number) => orms[worker] === orm
    const sameOrm = checkHistory(
      reads.filter((read) => ours(read.worker)),
      writes.filter((write) => ours(write.worker)),
      {
        initialVersion: INITIAL_VERSION,
        memoryLagMs: report.memoryLagMs,
        confirmedAt: confirmationTimes(writes, confirmations),
      },
    )
    expect(
      sameOrm.violations.map((violation) => describeViolation(violation, reads, writes, deliveries)),
      orm,
    ).toEqual([])
  }
}, 240_000)
