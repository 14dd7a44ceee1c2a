// The differential test across processes: two cached clients in two child
// processes share Redis and a PostgreSQL schema. Each write goes to one of
// them; once it has returned and the other has received its invalidations
// (the bus delay, measured here), every read in either process must equal the
// same read through an uncached client.
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, test } from 'vitest'
import type { CacheStats } from '../../../../src/index.js'
import { TYPESCRIPT_EXEC_ARGV, TYPESCRIPT_WORKER_START_MS } from '../../../fixtures/typescript-workers.js'
import { forkWatched, type WatchedChild } from '../../../fixtures/wait.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../../../helpers/prefix.js'
import { redisUrl } from '../../../helpers/services.js'
import { postgresBackend } from '../backends.js'
import { type AnyStep, stepArbitrary } from './model.js'
import { diffSeed } from './outcome.js'
import type { WorkerConfig, WorkerReply, WorkerRequest } from './worker.js'

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url))
const STEPS = Number(process.env.ORMCACHE_DIFF_PROCESS_STEPS ?? 400)
const backend = postgresBackend('prisma-diff-processes')
const prefix = uniquePrefix('prisma-diff-processes')
/**
 * How long a worker may take to answer one request: a step takes milliseconds, and the worker's
 * own wait for the bus gives up after 5 s and says why; this catches a worker that never answers.
 */
const REPLY_MS = 20_000
/** How long a worker may take to disconnect its clients and exit. */
const CLOSE_MS = 15_000
const workers: WatchedChild[] = []

beforeAll(async () => {
  await backend.setup()
})

afterAll(async () => {
  for (const worker of workers.splice(0)) if (worker.process.exitCode === null) worker.process.kill('SIGKILL')
  const admin = new Redis(await redisUrl())
  await deleteKeysWithPrefix(admin, prefix)
  admin.disconnect()
  await backend.teardown()
})

/** A worker process and a way to ask it one thing at a time. */
async function startWorker(name: string, config: WorkerConfig) {
  const child = forkWatched(name, WORKER, [JSON.stringify(config)], { execArgv: [...TYPESCRIPT_EXEC_ARGV] })
  workers.push(child)
  await child.nextMessage(`${name} to be ready`, TYPESCRIPT_WORKER_START_MS)
  return {
    async ask(request: WorkerRequest): Promise<WorkerReply> {
      child.process.send(request)
      const answer = await child.nextMessage<WorkerReply>(`${name}'s answer to ${JSON.stringify(request)}`, REPLY_MS)
      if (answer.unexpected !== undefined)
        throw new Error(`${name} failed on ${JSON.stringify(request)}: ${answer.unexpected}`)
      return answer
    },
    async close(): Promise<void> {
      child.process.send('close')
      await child.closed(CLOSE_MS)
    },
  }
}

/** p50, p99 and max of `delays`, in ms. */
function summary(delays: readonly number[]): string {
  const sorted = [...delays].sort((a, b) => a - b)
  const at = (fraction: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? Number.NaN
  return `p50 ${at(0.5).toFixed(2)} ms / p99 ${at(0.99).toFixed(2)} ms / max ${at(1).toFixed(2)} ms (${sorted.length} writes)`
}

test(`${STEPS} random steps over two processes: a read after another process's write and the bus delay is fresh`, async () => {
  const seed = diffSeed()
  console.log(`[two processes] seed ${seed} (set ORMCACHE_DIFF_SEED to replay another), ${STEPS} steps`)
  const config: WorkerConfig = { redis: await redisUrl(), prefix, postgres: backend.connection(), seed, steps: STEPS }
  const pair = await Promise.all([startWorker('worker A', config), startWorker('worker B', config)])
  // The same steps as the workers make: they run them by index.
  const steps: AnyStep[] = fc
    .sample(stepArbitrary({ quote: backend.quote, returning: true }, seed), { seed, numRuns: STEPS })
    .flat()
    .slice(0, STEPS)
  // Which process writes each step: seeded too.
  const writers = fc.sample(fc.integer({ min: 0, max: 1 }), { seed, numRuns: STEPS })
  await pair[0].ask({ type: 'seed' })
  let published = [0, 0]
  // Waits until the other process has every invalidation `writer` published; when the last arrived.
  const waitForBus = async (writer: number) => {
    const reply = await pair[1 - writer]!.ask({ type: 'await', count: published[writer]! })
    return reply.arrivals.at(-1)
  }
  await waitForBus(0)

  // From the write returning, and from its invalidation being published, to the other process receiving it.
  const delays: number[] = []
  const busDelays: number[] = []
  const recentReads: number[] = []
  let reads = 0
  let executed = 0
  let writes = 0
  for (const [index, step] of steps.entries()) {
    const where = `step ${index} of seed ${seed}: ${step.label}`
    const target = step.kind === 'reread' ? recentReads.at(-1 - Math.min(step.back, recentReads.length - 1)) : index
    if (target === undefined) continue
    executed++
    if (steps[target]!.kind === 'read') {
      if (step.kind === 'read') recentReads.push(index)
      // The same read in both processes, each compared with its uncached twin.
      for (const worker of index % 2 === 0 ? pair : [...pair].reverse()) {
        const reply = await worker.ask({ type: 'run', index: target })
        expect(reply.difference, `${where}: a cached read differs from the database`).toBeUndefined()
        reads++
      }
      continue
    }
    writes++
    const writer = writers[index]!
    const before = published[writer]!
    const reply = await pair[writer]!.ask({ type: 'run', index })
    published = published.map((count, worker) => (worker === writer ? reply.published : count))
    // A rolled-back transaction publishes nothing: no delay to wait for.
    if (reply.published === before) continue
    const arrived = await waitForBus(writer)
    delays.push(arrived! - reply.returnedAt)
    busDelays.push(arrived! - reply.lastPublishedAt)
  }

  const stats = await Promise.all(pair.map(async (worker) => (await worker.ask({ type: 'stats' })).stats as CacheStats))
  await Promise.all(pair.map((worker) => worker.close()))
  const hits = stats.reduce((sum, { l1Hits, l2Hits }) => sum + l1Hits + l2Hits, 0)
  console.log(
    `[two processes] ${executed} steps: ${reads} reads compared, ${writes} writes; the other process received the invalidation ` +
      `${summary(delays)} after the write returned (negative: before), ${summary(busDelays)} after it was published; ` +
      `cache hits ${hits} (L1 ${stats.map((s) => s.l1Hits).join('+')}, L2 ${stats.map((s) => s.l2Hits).join('+')})`,
  )
  // Only rereads before the first read find nothing to repeat.
  expect(executed).toBeGreaterThanOrEqual(STEPS * 0.99)
  expect(delays.length).toBeGreaterThan(writes / 2)
  // The cache was used, in both tiers: one process's entries serve the other from Redis.
  expect(hits / reads).toBeGreaterThan(0.25)
  expect(stats.every((s) => s.l2Hits > 0 && s.invalidationsReceived > 0)).toBe(true)
}, 120_000)
