import { afterEach, describe, expect, test, vi } from 'vitest'
import { type Cache, createCache } from '../../src/index.js'

// Refreshing entries before callers see a miss: stale-while-revalidate after the
// TTL, and XFetch's probabilistic early refresh before it. In-process tier only,
// with the clock faked; the Redis side follows the same code path.

const caches: Cache[] = []
afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

function cache(options: Parameters<typeof createCache>[0]): Cache {
  const created = createCache(options)
  caches.push(created)
  return created
}

describe('stale-while-revalidate', () => {
  test('an expired entry is served once more while one background load renews it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const memory = cache({ ttl: '1s', swr: '10s' })
    let version = 1
    // The refresh is held open until the test lets it finish: what is served meanwhile is the old entry.
    let finishRefresh!: () => void
    const refreshHeld = new Promise<void>((resolve) => {
      finishRefresh = resolve
    })
    const loader = vi.fn(async () => {
      if (version === 2) await refreshHeld
      return version
    })
    expect(await memory.getOrLoad('k', [], loader)).toBe(1)
    vi.advanceTimersByTime(1_500)
    version = 2
    // Stale but within the window: served at once, refreshed behind the caller's back, once.
    expect(await memory.getOrLoad('k', [], loader)).toBe(1)
    expect(await memory.getOrLoad('k', [], loader)).toBe(1)
    finishRefresh()
    // The refreshed entry is in memory by the turn after the load ends.
    await new Promise((resolve) => setImmediate(resolve))
    expect(await memory.getOrLoad('k', [], loader)).toBe(2)
    expect(loader).toHaveBeenCalledTimes(2)
    expect(memory.stats()).toMatchObject({ refreshes: 1, staleServed: 2 })
  })

  test('past the window the entry is a plain miss', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const memory = cache({ ttl: '1s', swr: '2s' })
    const loader = vi.fn(async () => 'v')
    await memory.getOrLoad('k', [], loader)
    vi.advanceTimersByTime(3_500)
    await memory.getOrLoad('k', [], loader)
    expect(loader).toHaveBeenCalledTimes(2)
    expect(memory.stats()).toMatchObject({ refreshes: 0, staleServed: 0, misses: 2 })
  })

  test('an invalidated entry is never served stale', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const memory = cache({ ttl: '1s', swr: '1h' })
    await memory.getOrLoad('k', ['T'], () => 'old')
    vi.advanceTimersByTime(1_500)
    await memory.invalidate({ tags: ['T'] })
    expect(await memory.getOrLoad('k', ['T'], () => 'new')).toBe('new')
  })

  test('swr can be set per call', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const memory = cache({ ttl: '1s' })
    const loader = vi.fn(async () => 'v')
    await memory.getOrLoad('k', [], loader, { swr: '5s' })
    vi.advanceTimersByTime(2_000)
    await memory.getOrLoad('k', [], loader, { swr: '5s' })
    expect(memory.stats().staleServed).toBe(1)
  })
})

describe('early refresh (XFetch)', () => {
  /** A loader whose load takes `ms` of the faked clock: XFetch scales with that. */
  function slowLoader(ms: number) {
    let version = 0
    return vi.fn(async () => {
      vi.advanceTimersByTime(ms)
      return ++version
    })
  }

  test('a draw that lands past expiry refreshes the entry before it expires', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const memory = cache({ ttl: '10s', earlyRefresh: true })
    const loader = slowLoader(500)
    await memory.getOrLoad('k', [], loader)
    vi.advanceTimersByTime(8_000) // 2 s before expiry, for a load that takes 0.5 s
    // -ln(1e-9) ≈ 20.7, so the draw reaches 10 s past now: refresh.
    vi.spyOn(Math, 'random').mockReturnValue(1e-9)
    expect(await memory.getOrLoad('k', [], loader)).toBe(1)
    await vi.waitUntil(() => memory.stats().loads === 2)
    expect(await memory.getOrLoad('k', [], loader)).toBe(2)
    expect(memory.stats()).toMatchObject({ refreshes: 1, staleServed: 0 })
  })

  test('a draw that stays short of expiry does nothing', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const memory = cache({ ttl: '10s', earlyRefresh: true })
    const loader = slowLoader(500)
    await memory.getOrLoad('k', [], loader)
    vi.advanceTimersByTime(8_000)
    vi.spyOn(Math, 'random').mockReturnValue(0.5) // -ln(0.5) * 500 ms ≈ 0.35 s: not yet
    await memory.getOrLoad('k', [], loader)
    expect(memory.stats().refreshes).toBe(0)
    expect(loader).toHaveBeenCalledTimes(1)
  })

  test('off by default', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const memory = cache({ ttl: '10s' })
    const loader = slowLoader(500)
    await memory.getOrLoad('k', [], loader)
    vi.advanceTimersByTime(9_900)
    vi.spyOn(Math, 'random').mockReturnValue(1e-9)
    await memory.getOrLoad('k', [], loader)
    expect(memory.stats().refreshes).toBe(0)
  })
})
