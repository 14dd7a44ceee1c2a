// The load run, short (npm test): 4 processes for 16 s with the full run's
// assertions — no lost invalidation, no failed operation, L1 within its budget at
// every sample, the heap not growing after warm-up. The 2-minute run is
// load.chaos.ts (`npm run test:chaos`).
import { test } from 'vitest'
import { expectHealthyLoad, loadRun } from './load-check.js'

const DURATION_MS = 16_000

test('load, 16 s over 4 processes (2 Prisma, 2 TypeORM): no lost invalidation, L1 within budget, heap stable', async () => {
  expectHealthyLoad(await loadRun(DURATION_MS), { bytesPerOperation: 500, slopeMiBPerMin: 5, growthMiB: 4 })
}, 120_000)
