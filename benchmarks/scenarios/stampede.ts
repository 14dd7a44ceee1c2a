import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import type { BenchDatabase } from '../fixtures/database.js'
import { CACHES } from '../fixtures/systems.js'
import type { Run } from '../harness.js'
import { nextMessage } from './mixed.js'
import { QUICK_CACHES } from './quick.js'
import { deleteMatching } from './reads.js'

const PROCESSES = 4
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
      const outcomes = await stampede(database, name, redisUrl, prefix, id++)
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

async function stampede(
  database: BenchDatabase,
  cache: string,
  redisUrl: string,
  prefix: string,
  id: number,
): Promise<{ queries: number; failures: number }[]> {
  const worker = fileURLToPath(new URL('../workers/stampede-worker.js', import.meta.url))
  const args = [database.kind, database.name, String(database.users), cache, redisUrl, prefix]
  const children = Array.from({ length: PROCESSES }, () => fork(worker, args, { stdio: 'inherit' }))
  try {
    await Promise.all(children.map((child) => nextMessage(child)))
    const outcomes = children.map((child) => nextMessage(child) as Promise<{ queries: number; failures: number }>)
    for (const child of children) child.send({ go: { id, calls: CALLS / PROCESSES } })
    return await Promise.all(outcomes)
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill()
  }
}
