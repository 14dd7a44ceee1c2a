import { seededRandom, zipfSampler } from '../../test/fixtures/random.js'
import { clock, mixedOperation, nextTurn, type OperationLog, WRITE_SHARE } from '../fixtures/mixed-operation.js'
import { ormcache } from '../fixtures/prisma-systems.js'
import { typeormOrmcache } from '../fixtures/typeorm-systems.js'
import { serveWorker } from '../fixtures/worker-process.js'
import {
  type LoadGo,
  type LoadOrm,
  type LoadSample,
  latencyBucket,
  rowOf,
  sampledStats,
} from '../scenarios/load-report.js'

/**
 * One process of the load run: the mixed workload (Zipf keys, 95% reads, 5%
 * writes) on ormcache with a small L1 budget, on its ORM's own rows. Every
 * `sampleEveryMs` it collects the garbage (when started with --expose-gc, so
 * the heap figure is what is alive, not what awaits collection), then hands
 * the parent its memory, the cache's stats, its operations and their latency
 * histogram since the last sample; it keeps nothing of them, so what it
 * holds cannot grow with the run.
 */
const collectGarbage = (globalThis as { gc?: () => void }).gc

await serveWorker<LoadGo, { failures: number; errors: string[] }>(
  async ({ durationMs, keys, sampleEveryMs }, { system, counter, extra: [orm, seed], progress }) => {
    const nextKey = zipfSampler(keys, 1.1, seededRandom(Number(seed)))
    const random = seededRandom(Number(seed) + 1)
    let log: OperationLog = { reads: [], writes: [] }
    let latency = new Map<number, number>()
    let operations = 0
    let failures = 0
    const errors: string[] = []
    const startedAt = clock()
    const sample = () => {
      collectGarbage?.()
      const { rss, heapUsed } = process.memoryUsage()
      const message: LoadSample = {
        elapsedMs: clock() - startedAt,
        operations,
        failures,
        rss,
        heapUsed,
        ...sampledStats(system.stats?.()),
        latency: [...latency],
        ...log,
      }
      progress(message)
      log = { reads: [], writes: [] }
      latency = new Map()
      operations = 0
    }
    const timer = setInterval(sample, sampleEveryMs)
    const deadline = startedAt + durationMs
    while (clock() < deadline) {
      await nextTurn()
      const id = rowOf(orm as LoadOrm, nextKey())
      try {
        const bucket = latencyBucket(await mixedOperation(system, counter, id, random() < WRITE_SHARE, log))
        latency.set(bucket, (latency.get(bucket) ?? 0) + 1)
        operations++
      } catch (error) {
        failures++
        if (errors.length < 5) errors.push((error as Error).stack ?? String(error))
      }
    }
    clearInterval(timer)
    sample()
    return { failures, errors }
  },
  // Connections and Prisma's query compiler warm before the clock starts, as in the mixed scenario,
  // and every row is read once, so what the process keeps per row it knows is there from the start.
  async (system, [orm, , , keys]) => {
    for (let key = 1; key <= Number(keys); key++) await system.findUser(rowOf(orm as LoadOrm, key))
    for (let key = 1; key <= 5; key++) await system.bumpUser(rowOf(orm as LoadOrm, key))
  },
  (cacheName, [, , l1MaxBytes]) => {
    const l1 = { maxBytes: Number(l1MaxBytes) }
    return cacheName === 'prisma' ? ormcache(l1) : cacheName === 'typeorm' ? typeormOrmcache(l1) : undefined
  },
)
