import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, test } from 'vitest'
import type { CacheStats } from '../../src/index.js'
import { forkWatched, until, type WatchedChild } from '../fixtures/wait.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { redisUrl } from '../helpers/services.js'

// Instances in separate processes, each with its own connections, missing the
// same cold key at once: the database must see one query.

const WORKER = fileURLToPath(new URL('../fixtures/stampede-worker.mjs', import.meta.url))
/** A worker runs the built package (no compiling) and connects to Redis: seconds at most on a loaded machine. */
const START_MS = 20_000
/** Its calls end within the lock's wait (10 s in the killed-holder test) and a load of at most 100 ms. */
const DONE_MS = 30_000
const workers: WatchedChild[] = []
const prefixes: string[] = []

afterEach(async () => {
  for (const worker of workers.splice(0)) if (worker.process.exitCode === null) worker.process.kill('SIGKILL')
  const admin = new Redis(await redisUrl())
  for (const prefix of prefixes.splice(0)) await deleteKeysWithPrefix(admin, prefix)
  admin.disconnect()
})

interface Done {
  results: { rows: number[]; loadedBy: number }[]
  stats: CacheStats
}

async function startWorkers(count: number, prefix: string, lock?: object): Promise<WatchedChild[]> {
  const config = JSON.stringify({ redisUrl: await redisUrl(), prefix, lock })
  const started = Array.from({ length: count }, (_, index) => forkWatched(`stampede worker ${index}`, WORKER, [config]))
  workers.push(...started)
  await Promise.all(started.map((worker) => worker.nextMessage(`${worker.name} to be ready`, START_MS)))
  return started
}

function run(worker: WatchedChild, job: { calls: number; loadMs: number; hang?: boolean }): Promise<Done> {
  worker.process.send(job)
  return worker.nextMessage<Done>(`${worker.name} to finish ${job.calls} calls`, DONE_MS)
}

describe('stampede across processes', () => {
  test('200 concurrent misses over 4 processes make one database query', async () => {
    const prefix = uniquePrefix('stampede-processes')
    prefixes.push(prefix)
    const started = await startWorkers(4, prefix)
    const done = await Promise.all(started.map((worker) => run(worker, { calls: 50, loadMs: 100 })))
    const admin = new Redis(await redisUrl())
    try {
      expect(await admin.get(`${prefix}:db-queries`)).toBe('1')
    } finally {
      admin.disconnect()
    }
    const loaders = new Set(done.flatMap(({ results }) => results.map((result) => result.loadedBy)))
    expect(loaders.size).toBe(1)
    expect(done.flatMap(({ results }) => results)).toHaveLength(200)
    expect(done.reduce((sum, { stats }) => sum + stats.loads, 0)).toBe(1)
    // The three others got the holder's entry from Redis: after waiting on its lock, or,
    // for a process scheduled late, after the entry had landed.
    expect(done.reduce((sum, { stats }) => sum + stats.l2Hits, 0)).toBe(3)
    expect(done.reduce((sum, { stats }) => sum + stats.lockWaits, 0)).toBeLessThanOrEqual(3)
  })

  test('when the process holding the lock is killed mid-load, the others finish after its lock expires', async () => {
    const prefix = uniquePrefix('stampede-killed')
    prefixes.push(prefix)
    const [holder, ...others] = await startWorkers(4, prefix, { ttl: '500ms', wait: '10s' })
    if (holder === undefined) throw new Error('no holder')
    holder.process.send({ calls: 1, loadMs: 0, hang: true })
    const admin = new Redis(await redisUrl())
    try {
      // Midway: it holds the lock and its query has reached the database.
      await until(async () => (await admin.get(`${prefix}:db-queries`)) === '1', 'the holder to be loading')
      // Its fill lock, in the entry's key.
      expect((await admin.getBuffer(`${prefix}:e:hot`))?.[0]).toBe(0)
      holder.process.kill('SIGKILL')
      const done = await Promise.all(others.map((worker) => run(worker, { calls: 50, loadMs: 20 })))
      // The killed holder's query, then one by whoever took over its expired lock.
      expect(await admin.get(`${prefix}:db-queries`)).toBe('2')
      const loaders = new Set(done.flatMap(({ results }) => results.map((result) => result.loadedBy)))
      expect(loaders.size).toBe(1)
      expect(loaders.has(holder.process.pid ?? -1)).toBe(false)
    } finally {
      admin.disconnect()
    }
  })
})
