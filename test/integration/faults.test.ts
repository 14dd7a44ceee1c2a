import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, onTestFinished, test } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../../src/index.js'
import { TEST_REDIS_TIMEOUT } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { disposeAfterTest } from '../helpers/lifecycle.js'
import { entryStored } from '../helpers/prefix.js'
import { type RedisServer, startRedis } from '../helpers/redis-server.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

// Each test gets a Redis of its own to kill, pause or restart: the shared one
// must never see a fault.

// The timeout of the tests that measure what an outage costs a read; the others use the
// suite's roomy one, so a busy machine cannot turn a slow answer into a fault.
const TIMEOUT_MS = 300
const PAUSE_MS = 4_000
// What a read may take beyond the timeout on a busy 2-core CI machine: scheduling, not waiting on Redis
// (a read that waited on the paused Redis would take the whole pause).
const MARGIN_MS = 900
const caches: Cache[] = []
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

async function dedicatedRedis(): Promise<RedisServer> {
  return disposeAfterTest(await startRedis())
}

async function liveCache(server: RedisServer, options: Omit<CacheOptions, 'redis' | 'prefix'> = {}) {
  const cache = createCache({ redis: server.url, prefix: 'faults', timeout: TEST_REDIS_TIMEOUT, ...options })
  caches.push(cache)
  await until(() => cache.stats().bus === 'live', 'the bus to be live')
  return cache
}

/** Runs a read and returns its value and how long it took. */
async function timed<T>(read: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now()
  const value = await read()
  return { value, ms: performance.now() - started }
}

const fail = () => {
  throw new Error('the loader must not run here')
}

describe('faults on a dedicated Redis', () => {
  test('with the bus subscription killed, L1 is not served until resubscribed, then flushed', async () => {
    const server = await dedicatedRedis()
    const writer = await liveCache(server)
    const reader = await liveCache(server)
    let version = 1
    await reader.getOrLoad('k', ['T'], () => version)
    await reader.getOrLoad('other', ['O'], () => 'other')
    expect(await reader.getOrLoad('k', ['T'], fail)).toBe(1)

    const downs: unknown[] = []
    const onBus = (message: unknown) => {
      if ((message as { state: string }).state === 'down') downs.push(message)
    }
    subscribe('ormcache:bus', onBus)
    try {
      await server.client().client('KILL', 'TYPE', 'pubsub')
      await until(() => downs.length >= 2, 'both instances to notice their subscription is gone')
    } finally {
      unsubscribe('ormcache:bus', onBus)
    }
    // The writer's message may be lost: the reader is not subscribed.
    version = 2
    await writer.invalidate({ tags: ['T'] })
    expect(reader.stats().bus).toBe('down')
    expect(await reader.getOrLoad('k', ['T'], () => version)).toBe(2)

    await until(() => reader.stats().bus === 'live', 'the reader to resubscribe')
    // Everything in L1 from before the gap is gone; Redis still has the untouched entry.
    const l2HitsBefore = reader.stats().l2Hits
    expect(await reader.getOrLoad('other', ['O'], fail)).toBe('other')
    expect(reader.stats().l2Hits).toBe(l2HitsBefore + 1)
  })

  test('a subscription that stops delivering without closing is caught by heartbeats', async () => {
    const server = await dedicatedRedis()
    const reader = await liveCache(server)
    await reader.getOrLoad('k', ['T'], () => 'cached')
    expect(await reader.getOrLoad('k', ['T'], fail)).toBe('cached')
    // Writes paused: nothing can be published, so the reader's own heartbeats stop arriving,
    // as they would through a dead NAT entry. Its L1 is not served from then on.
    await server.client().client('PAUSE', '6000', 'WRITE')
    await until(() => reader.stats().bus === 'down', 'the heartbeats to be missed', 10_000)
    const { l1Hits, l2Hits, loads } = reader.stats()
    // Nothing was written, so the entry is still right: it comes from Redis (which still
    // answers reads) or the loader, never from memory.
    expect(['cached', 'loaded']).toContain(await reader.getOrLoad('k', ['T'], () => 'loaded'))
    expect(reader.stats().l1Hits).toBe(l1Hits)
    expect(reader.stats().l2Hits + reader.stats().loads).toBe(l2Hits + loads + 1)
    await server.client().client('UNPAUSE')
    await until(() => reader.stats().bus === 'live', 'the bus to come back', 10_000)
  })

  test('a paused Redis costs one timeout, then nothing; invalidations made during the pause land after it', async () => {
    const server = await dedicatedRedis()
    const cache = await liveCache(server, { timeout: `${TIMEOUT_MS}ms` })
    const other = await liveCache(server, { l1: false })
    await cache.getOrLoad('k', ['T'], () => 'before')
    await until(() => entryStored(server.client(), 'faults:e:k'), 'the entry to be stored')

    await server.pause(PAUSE_MS)
    const reads = []
    for (let i = 0; i < 10; i++) reads.push(await timed(() => cache.getOrLoad(`during:${i}`, ['T'], () => i)))
    expect(reads.map((read) => read.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(Math.max(...reads.map((read) => read.ms))).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
    // Only the first read waited for Redis: the circuit opened and the rest skipped it.
    expect(cache.stats()).toMatchObject({ circuitOpens: 1, redis: 'down' })
    expect(cache.stats().redisErrors).toBe(1)

    await cache.invalidate({ tags: ['T'] })
    expect(cache.stats().pendingInvalidations).toBe(1)
    // Read-your-writes holds during the outage: this instance does not trust anything tagged T.
    expect(await cache.getOrLoad('k', ['T'], () => 'after')).toBe('after')

    await until(() => cache.stats().redis === 'up', 'the circuit to close after the pause', 10_000)
    expect(cache.stats().pendingInvalidations).toBe(0)
    // The replayed invalidation reached Redis: another instance does not get the old entry.
    expect(await other.getOrLoad('k', ['T'], () => 'after')).toBe('after')
  })

  test('a write while this instance has given up on Redis still reaches a Redis the others trust', async () => {
    const server = await dedicatedRedis()
    // The writer's own connection, blocked by a BLPOP of its own: Redis stalls for it alone.
    const writerClient = server.client()
    const writer = createCache({ redis: writerClient, prefix: 'faults', timeout: '100ms', l1: false })
    caches.push(writer)
    const reader = await liveCache(server, { l1: false })
    await reader.getOrLoad('k', ['T'], () => 'before')
    await until(() => entryStored(server.client(), 'faults:e:k'), 'the entry to be stored')

    // 900 ms: the writer's read times out at 100 ms and opens its circuit; its probes, at 200 and
    // 500 ms, time out behind the BLPOP too, so the next one comes at 1 s: from 900 ms to then
    // the writer has given up on a Redis that answers everyone, the reader included.
    const blocked = writerClient.blpop('faults:nothing', 0.9)
    expect(await writer.getOrLoad('other', ['U'], () => 'loaded')).toBe('loaded')
    expect(writer.stats()).toMatchObject({ circuitOpens: 1, redis: 'down' })
    await writer.invalidate({ tags: ['T'] })
    await blocked

    // Queued behind the BLPOP, the invalidation ran as soon as it ended: the reader loads.
    expect(await reader.getOrLoad('k', ['T'], () => 'after')).toBe('after')
  })

  test("a write's invalidation that never reached Redis is resent when the writer's connection is back, before its circuit closes", async () => {
    const server = await dedicatedRedis()
    const reader = await liveCache(server, { l1: false })
    await reader.getOrLoad('k', ['T'], () => 'before')
    await until(() => entryStored(server.client(), 'faults:e:k'), 'the entry to be stored')
    // The writer reaches Redis through a proxy: its connection alone can be cut.
    const proxy = disposeAfterTest(await startTcpProxy(server))
    const writerClient = new Redis({ port: proxy.port, enableOfflineQueue: false, retryStrategy: () => 20 })
    writerClient.on('error', () => {})
    onTestFinished(() => writerClient.disconnect())
    const writer = createCache({ redis: writerClient, prefix: 'faults', timeout: `${TIMEOUT_MS}ms`, l1: false })
    caches.push(writer)
    await until(() => writer.stats().redis === 'up' && writer.stats().bus === 'live', 'the writer to be connected')

    await proxy.cut()
    await until(() => writerClient.status !== 'ready', "the writer's connection to drop")
    // Not sent (no connection): kept pending, and the circuit opens. Its probes, at 0.1, 0.3, 0.7
    // and 1.5 s, fail at once while the proxy refuses; the next comes at 3.1 s.
    await writer.invalidate({ tags: ['T'] })
    expect(writer.stats()).toMatchObject({ pendingInvalidations: 1, redis: 'down' })
    await sleep(1_900)
    await proxy.restore()

    // Back within the writer's reconnect delay: the invalidation is written then, not at the probe
    // that closes the circuit. Meanwhile the reader, which trusts Redis, served the old entry.
    await until(() => writer.stats().pendingInvalidations === 0, 'the invalidation to be resent', 10_000)
    expect(writer.stats().redis).toBe('down')
    expect(await reader.getOrLoad('k', ['T'], () => 'after')).toBe('after')
  })

  test('an invalidation Redis refused is resent by close(), after which nothing would resend it', async () => {
    const server = await dedicatedRedis()
    const admin = server.client()
    const reader = await liveCache(server, { l1: false })
    const writer = await liveCache(server, { l1: false })
    await reader.getOrLoad('k', ['T'], () => 'before')
    await until(() => entryStored(admin, 'faults:e:k'), 'the entry to be stored')

    // Out of memory, nothing evictable: Redis answers, and refuses every write.
    await admin.config('SET', 'maxmemory-policy', 'noeviction')
    await admin.config('SET', 'maxmemory', '1')
    await writer.invalidate({ tags: ['T'] })
    expect(writer.stats()).toMatchObject({ pendingInvalidations: 1, redis: 'up' })
    await admin.config('SET', 'maxmemory', '0')
    await writer.close()

    expect(await reader.getOrLoad('k', ['T'], () => 'after')).toBe('after')
  })

  test('Redis killed and restarted empty: loaders serve meanwhile, nothing stale after', async () => {
    const server = await dedicatedRedis()
    const cache = await liveCache(server, { timeout: `${TIMEOUT_MS}ms` })
    await cache.getOrLoad('k', ['T'], () => 'before')
    await cache.getOrLoad('untouched', ['U'], () => 'before')
    expect(await cache.getOrLoad('untouched', ['U'], fail)).toBe('before')

    await server.kill()
    const reads = []
    // Keys nothing holds: until the cache notices the dead connection, memory may still
    // serve what it has, which is correct while nothing was written.
    for (let i = 0; i < 5; i++) reads.push(await timed(() => cache.getOrLoad(`down:${i}`, ['T'], () => `down ${i}`)))
    expect(reads.map((read) => read.value)).toEqual(['down 0', 'down 1', 'down 2', 'down 3', 'down 4'])
    expect(Math.max(...reads.map((read) => read.ms))).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
    await cache.invalidate({ tags: ['T'] })
    expect(cache.stats().pendingInvalidations).toBe(1)

    await server.restart()
    await until(() => cache.stats().redis === 'up' && cache.stats().bus === 'live', 'recovery', 15_000)
    expect(cache.stats().pendingInvalidations).toBe(0)
    // L1 was flushed: what it held before the outage may have missed other instances' writes.
    expect(await cache.getOrLoad('untouched', ['U'], () => 'reloaded')).toBe('reloaded')
    expect(await cache.getOrLoad('k', ['T'], () => 'after')).toBe('after')
    await until(() => entryStored(server.client(), 'faults:e:k'), 'caching to resume')
    expect(await cache.getOrLoad('k', ['T'], fail)).toBe('after')
  })
})
