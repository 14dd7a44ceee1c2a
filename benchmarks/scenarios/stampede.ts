import { Redis } from 'ioredis'
import type { BenchDatabase } from '../fixtures/database.js'
import { CACHES } from '../fixtures/systems.js'
import { PROCESSES, runWorkers } from '../fixtures/workers.js'
import type { Run } from '../harness.js'
import { QUICK_CACHES } from './quick.js'
import { deleteMatching } from './reads.js'

const CALLS = 1_000

/**
 * 1000 concurrent identical misses spread over 4 processes, per cache: how
 * many database queries they cost. One is the ideal; an in-process lock alone
 * gives one per process.
 */
export async function stampedeScenario(
  run: Run,
  database: BenchDatabase,
  redisUrl: string,
  orms: readonly string[],
): Promise<void> {
  const scenario = `stampede: ${CALLS} concurrent misses over ${PROCESSES} processes, ${database.kind}`
  const admin = new Redis(redisUrl)
  let id = 100
  try {
    for (const [name, { orm }] of Object.entries(CACHES)) {
      if (!orms.includes(orm) || (run.quick && !QUICK_CACHES.has(name))) continue
      run.progress.label(`${scenario}: ${name}`)
      const prefix = `bench-${process.pid}-stampede-${name.replace(/\W+/g, '-')}`
      const started = performance.now()
      const outcomes = await runWorkers<{ queries: number; failures: number }>(
        'stampede-worker',
        { database, cache: name, redisUrl, prefix },
        { id: id++, calls: CALLS / PROCESSES },
      )
      const queries = outcomes.reduce((sum, outcome) => sum + outcome.queries, 0)
      const failures = outcomes.reduce((sum, outcome) => sum + outcome.failures, 0)
      run.note(
        scenario,
        name,
        `${queries} database ${queries === 1 ? 'query' : 'queries'} (${outcomes.map((outcome) => outcome.queries).join(' + ')})` +
          `${failures > 0 ? `, ${failures} failed calls` : ''}, ${Math.round(performance.now() - started)} ms with process start`,
      )
      await deleteMatching(admin, `*${prefix}*`)
      run.progress.step()
    }
  } finally {
    admin.disconnect()
  }
}
