// The load run (issue 8 §4), `npm run test:chaos`: 4 processes (2 Prisma,
// 2 TypeORM) on PostgreSQL for 2 minutes, ormcache with a 128 KiB L1 per
// process — no lost invalidation, no failed operation, L1 within its budget
// at every sample, the heap flat after warm-up. Writes its Markdown report to
// test/chaos/results/load.md. ORMCACHE_LOAD_SECONDS overrides the length.
import { fileURLToPath } from 'node:url'
import { test } from 'vitest'
import { expectHealthyLoad, LOAD_DEFAULTS, loadRun } from './load-check.js'

const seconds = Number(process.env.ORMCACHE_LOAD_SECONDS ?? LOAD_DEFAULTS.durationMs / 1_000)
const RESULTS = fileURLToPath(new URL('./results/load.md', import.meta.url))

test(
  `load, ${seconds} s over 4 processes (2 Prisma, 2 TypeORM): no lost invalidation, L1 within budget, heap stable`,
  async () => {
    expectHealthyLoad(await loadRun(seconds * 1_000, RESULTS), {
      bytesPerOperation: 100,
      slopeMiBPerMin: 1,
      growthMiB: 4,
    })
  },
  (seconds + 180) * 1_000,
)
