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
import { DEFAULT_OPTIONS, formatReport, runChaos } from './run.js'
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
