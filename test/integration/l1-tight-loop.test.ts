import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { MAX_UNREAD_BUS_MS } from '../../src/cache.js'
import { redisCaches } from '../fixtures/redis-cache.js'
import { TYPESCRIPT_EXEC_ARGV } from '../fixtures/typescript-workers.js'
import { redisUrl } from '../helpers/services.js'

// A loop of L1 hits never lets the event loop read its sockets: another process's invalidation
// must still stop it within the bus's delay plus MAX_UNREAD_BUS_MS, not when the loop ends.

const WORKER = fileURLToPath(new URL('../fixtures/invalidating-worker.ts', import.meta.url))
const redis = redisCaches('l1-tight-loop')
let database: Redis

beforeAll(async () => {
  database = new Redis(await redisUrl())
})
afterAll(() => database.disconnect())

test("a loop of hits that never yields sees another process's write", async () => {
  const prefix = redis.prefix()
  const valueKey = `${prefix}:value`
  await database.set(valueKey, 'old')
  const cache = await redis.liveCache(prefix)
  const load = async () => (await database.get(valueKey)) ?? 'missing'
  expect(await cache.getOrLoad('value', ['Value'], load)).toBe('old')

  const writer = fork(WORKER, [JSON.stringify({ redisUrl: await redisUrl(), prefix, valueKey, tag: 'Value' })], {
    execArgv: [...TYPESCRIPT_EXEC_ARGV],
  })
  try {
    const [ready] = await once(writer, 'message')
    expect(ready).toEqual({ type: 'ready' })
    const invalidated = once(writer, 'message')
    writer.send('new')
    // No I/O of its own, no timers: only the cache may yield here. Without that, this loop
    // would run to its deadline on the old value.
    const deadline = Date.now() + 10_000
    let value = 'old'
    let hits = 0
    while (value === 'old' && Date.now() < deadline) {
      value = await cache.getOrLoad('value', ['Value'], load)
      hits++
    }
    const seenAt = Date.now()
    expect(value).toBe('new')
    const [{ at }] = (await invalidated) as [{ at: number }]
    // Reported, not asserted as a timing: how long after the write returned this loop saw it.
    console.info(
      `tight loop saw the write ${seenAt - at} ms after it returned (bound ${MAX_UNREAD_BUS_MS} ms + bus delay), after ${hits} hits`,
    )
    expect(cache.stats().invalidationsReceived).toBe(1)
  } finally {
    if (writer.exitCode === null) writer.kill('SIGKILL')
  }
})
