import { Redis } from 'ioredis'
import { describe, expect, test, vi } from 'vitest'
import { createCache } from '../../src/index.js'
import { redisCaches, sharedRedis, TEST_REDIS_TIMEOUT } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { entryStored } from '../helpers/prefix.js'
import { redisUrl } from '../helpers/services.js'
import { defineEngineSuite } from './engine-suite.js'

defineEngineSuite(sharedRedis)

const redis = redisCaches('standalone')

describe('standalone Redis', () => {
  test('ioredis options work as well as a URL, and the cache closes what it opened', async () => {
    const prefix = redis.prefix()
    const { hostname, port } = new URL(await redisUrl())
    const options = { host: hostname, port: Number(port), connectionName: `${prefix}-own` }
    const writer = createCache({ redis: options, prefix, timeout: TEST_REDIS_TIMEOUT })
    const reader = createCache({ redis: options, prefix, l1: false, timeout: TEST_REDIS_TIMEOUT })
    await writer.getOrLoad('k', ['T'], () => 'v')
    await redis.stored(prefix, 'k')
    expect(await reader.getOrLoad('k', ['T'], () => 'not from Redis')).toBe('v')
    const admin = await redis.admin()
    const connections = async () =>
      String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${prefix}-own`)).length
    // Each cache: one connection for commands, one for the bus.
    expect(await connections()).toBe(4)
    await writer.close()
    await reader.close()
    await vi.waitUntil(async () => (await connections()) === 0, { timeout: 5_000 })
  })

  test('a user-supplied client is used as is, keyPrefix respected, and not closed', async () => {
    const prefix = redis.prefix()
    const client = new Redis(await redisUrl(), { keyPrefix: `${prefix}:app:` })
    try {
      const listeners = client.listenerCount('ready')
      const cache = createCache({ redis: client, prefix, timeout: TEST_REDIS_TIMEOUT })
      expect(client.listenerCount('ready')).toBeGreaterThan(listeners)
      await cache.getOrLoad('k', ['T'], () => 'v')
      const admin = await redis.admin()
      await until(() => entryStored(admin, `${prefix}:app:${prefix}:e:k`), 'the entry stored')
      expect(await admin.exists(`${prefix}:app:{${prefix}}:t:T`)).toBe(1)
      await cache.close()
      // Nothing of the cache stays attached to the app's client.
      expect(client.listenerCount('ready')).toBe(listeners)
      expect(client.status).toBe('ready')
      expect(await client.ping()).toBe('PONG')
    } finally {
      client.disconnect()
    }
  })

  test('a read is one round trip of plain commands, a hit and a miss alike; a stale entry costs a miss one more', async () => {
    const prefix = redis.prefix()
    const client = new Redis(await redisUrl())
    try {
      const cache = createCache({ redis: client, prefix, l1: false, timeout: TEST_REDIS_TIMEOUT })
      const sent: string[] = []
      const writes: number[] = []
      const sendCommand = client.sendCommand.bind(client)
      client.sendCommand = (command, stream) => {
        sent.push(command.name)
        return sendCommand(command, stream)
      }
      // Connection set-up (client name, run id) is not part of a read.
      await cache.getOrLoad('warm-up', ['T'], () => 'w')
      await redis.stored(prefix, 'warm-up')
      // Commands corked together leave in one write of the socket (one system call).
      const socket = client.stream
      const write = socket._writev?.bind(socket)
      const writeOne = socket._write.bind(socket)
      socket._writev = (chunks, callback) => {
        writes.push(chunks.length)
        write?.(chunks, callback)
      }
      socket._write = (chunk, encoding, callback) => {
        writes.push(1)
        writeOne(chunk, encoding, callback)
      }
      sent.length = 0
      let beforeLoad: string[] = []
      let writesBeforeLoad: number[] = []
      expect(
        await cache.getOrLoad('k', ['T', 'T:1'], () => {
          beforeLoad = [...sent]
          writesBeforeLoad = [...writes]
          return 'v'
        }),
      ).toBe('v')
      // The entry (SET … NX GET: the fill lock when it is missing) and each tag, '*' included.
      expect(beforeLoad).toEqual(['set', 'set', 'set', 'set'])
      expect(writesBeforeLoad).toEqual([4])
      await redis.stored(prefix, 'k')
      const admin = await redis.admin()
      // The stored entry replaced the fill lock.
      expect((await admin.getBuffer(`${prefix}:e:k`))?.[0]).not.toBe(0)
      sent.length = 0
      writes.length = 0
      expect(await cache.getOrLoad('k', ['T', 'T:1'], () => 'not from Redis')).toBe('v')
      expect(sent).toEqual(['set', 'set', 'set', 'set'])
      expect(writes).toEqual([4])
      // After an invalidation the read finds the entry stale, and one script replaces it with the lock.
      await cache.invalidate({ tags: ['T:1'] })
      sent.length = 0
      let afterInvalidation: string[] = []
      await cache.getOrLoad('k', ['T', 'T:1'], () => {
        afterInvalidation = [...sent]
        return 'v2'
      })
      expect(afterInvalidation).toEqual(['set', 'set', 'set', 'set', expect.stringMatching(/^eval(sha)?$/)])
      await cache.close()
    } finally {
      client.disconnect()
    }
  })

  test('with Redis unreachable the loader serves every read, and only the first pays the timeout', async () => {
    const cache = createCache({ redis: 'redis://127.0.0.1:1', prefix: redis.prefix(), timeout: '100ms' })
    try {
      for (let i = 0; i < 5; i++) {
        expect(await cache.getOrLoad('k', ['T'], () => i)).toBe(i)
      }
      await cache.invalidate({ tags: ['T'] })
      const stats = cache.stats()
      expect(stats.loads).toBe(5)
      // One failure opened the circuit; everything after skipped Redis without trying it.
      expect(stats.circuitOpens).toBe(1)
      expect(stats.redisErrors).toBeLessThanOrEqual(2)
      // Nothing was served from memory either: nothing says memory is coherent while Redis is away.
      expect(stats.l1Hits).toBe(0)
      expect(stats.pendingInvalidations).toBe(1)
      // A long outage under many writes collapses into one invalidation of everything, not an unbounded set.
      await cache.invalidate({ tags: Array.from({ length: 10_001 }, (_, i) => `Row#${i}`) })
      expect(cache.stats().pendingInvalidations).toBe(1)
    } finally {
      await cache.close()
    }
  })
})
