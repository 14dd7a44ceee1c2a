// A process that stalls (CPU starvation, a long synchronous task) past the Redis
// timeout and the bus's heartbeat limit has lost neither: Redis's replies and the
// heartbeats are waiting in the socket, unread, when the overdue timers run.
import { describe, expect, test } from 'vitest'
import { redisCaches } from '../fixtures/redis-cache.js'

const caches = redisCaches('bus-stall')

/** Blocks the event loop, as a starved or busy process does. */
function stall(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end) {}
}

/** Resolves after the timers already due, the heartbeat check among them, have run. */
const dueTimers = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('a stalled process', () => {
  test('keeps Redis up, the bus live and L1 served after a stall longer than the timeout and the heartbeat limit', async () => {
    const cache = await caches.liveCache(caches.prefix())
    await cache.getOrLoad('k', ['T'], () => 'cached')
    const { l1Hits } = cache.stats()

    stall(3_500)
    await dueTimers()
    expect(cache.stats()).toMatchObject({ bus: 'live', redis: 'up', redisErrors: 0, circuitOpens: 0 })
    expect(await cache.getOrLoad('k', ['T'], () => 'loaded')).toBe('cached')
    expect(cache.stats().l1Hits).toBe(l1Hits + 1)
  })
})
