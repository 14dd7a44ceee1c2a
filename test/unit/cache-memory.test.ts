import { afterEach, describe, expect, test, vi } from 'vitest'
import { createAdapterCache } from '../../src/cache.js'
import { type Cache, CacheClosedError, createCache } from '../../src/index.js'
import { rowsTag, rowTag, tableTag } from '../../src/table-tags.js'

// The engine with no Redis: L1 alone, where read-your-writes, single-flight and
// stale-set prevention must already hold within one process.

const caches: Cache[] = []
function memoryCache(options: Parameters<typeof createCache>[0] = {}): Cache {
  const cache = createCache(options)
  caches.push(cache)
  return cache
}
afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

/** A loader the test finishes by hand, to hold a load open across an invalidation. */
function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe('in-process cache', () => {
  test('a second read is served from memory', async () => {
    const cache = memoryCache()
    const loader = vi.fn(async () => ({ id: 1, name: 'Ada' }))
    expect(await cache.getOrLoad('user:1', ['User:1'], loader)).toEqual({ id: 1, name: 'Ada' })
    expect(await cache.getOrLoad('user:1', ['User:1'], loader)).toEqual({ id: 1, name: 'Ada' })
    expect(loader).toHaveBeenCalledTimes(1)
    expect(cache.stats()).toMatchObject({ l1Hits: 1, misses: 1, loads: 1, l1Entries: 1 })
  })

  test('the same tags in another order, or repeated, are the same entry', async () => {
    const cache = memoryCache()
    const loader = vi.fn(async () => 'value')
    for (const tags of [
      ['A', 'B'],
      ['B', 'A'],
      ['A', 'B'],
      ['B', 'A', 'B'],
    ]) {
      expect(await cache.getOrLoad('key', tags, loader)).toBe('value')
    }
    expect(loader).toHaveBeenCalledTimes(1)
    expect(cache.stats()).toMatchObject({ loads: 1, l1Hits: 3, staleRejects: 0 })
    await cache.invalidate({ tags: ['B'] })
    expect(await cache.getOrLoad('key', ['B', 'A'], loader)).toBe('value')
    expect(loader).toHaveBeenCalledTimes(2)
  })

  test('mutating a returned value does not change what the next caller gets', async () => {
    const cache = memoryCache()
    const original = { id: 1, tags: ['a'], when: new Date(5) }
    const first = await cache.getOrLoad('k', [], () => original)
    first.tags.push('mutated')
    first.when.setTime(0)
    const second = await cache.getOrLoad('k', [], () => original)
    expect(second).toEqual({ id: 1, tags: ['a'], when: new Date(5) })
    second.tags.length = 0
    expect(await cache.getOrLoad('k', [], () => original)).toEqual({ id: 1, tags: ['a'], when: new Date(5) })
  })

  test('after invalidate resolves the next read loads fresh', async () => {
    const cache = memoryCache()
    let version = 1
    const read = () => cache.getOrLoad('user:1', ['User', 'User:1'], () => ({ version }))
    expect(await read()).toEqual({ version: 1 })
    version = 2
    await cache.invalidate({ tags: ['User:1'] })
    expect(await read()).toEqual({ version: 2 })
    // Another tag leaves the entry alone.
    version = 3
    await cache.invalidate({ tags: ['User:2'] })
    expect(await read()).toEqual({ version: 2 })
    // The array form of before 1.0 (deprecated) still works.
    await cache.invalidate(['User:1'])
    expect(await read()).toEqual({ version: 3 })
    await expect(cache.invalidate([''])).rejects.toThrow(/`tags`/)
  })

  test('`invalidate({ tables })` evicts the reads tagged with those tables in the shared vocabulary', async () => {
    const cache = memoryCache()
    let version = 1
    const byKey = () => cache.getOrLoad('users:1', [rowsTag('users'), rowTag('users', ['1'])], () => ({ version }))
    const list = () => cache.getOrLoad('users', [tableTag('users')], () => [{ version }])
    const other = () => cache.getOrLoad('posts', [tableTag('posts')], () => [{ version }])
    await Promise.all([byKey(), list(), other()])
    version = 2
    // As the database names it, in any case.
    await cache.invalidate({ tables: ['Users'] })
    expect(await byKey()).toEqual({ version: 2 })
    expect(await list()).toEqual([{ version: 2 }])
    expect(await other()).toEqual([{ version: 1 }])
  })

  test('concurrent misses of one key run the loader once, each caller with its own copy', async () => {
    const cache = memoryCache()
    const gate = deferred<{ list: number[] }>()
    const loader = vi.fn(() => gate.promise)
    const callers = Array.from({ length: 50 }, () => cache.getOrLoad('hot', ['T'], loader))
    gate.resolve({ list: [1, 2] })
    const results = await Promise.all(callers)
    expect(loader).toHaveBeenCalledTimes(1)
    expect(cache.stats().sharedLoads).toBe(49)
    results[0]?.list.push(3)
    expect(results[1]).toEqual({ list: [1, 2] })
    expect(new Set(results).size).toBe(50)
  })

  test('a load that raced an invalidation is not cached, and later callers do not join it', async () => {
    const cache = memoryCache()
    const slow = deferred<string>()
    const early = cache.getOrLoad('k', ['T'], () => slow.promise)
    await cache.invalidate({ tags: ['T'] })
    // Arrives after the invalidation: must not get the pre-invalidation load.
    const late = cache.getOrLoad('k', ['T'], () => 'fresh')
    slow.resolve('stale')
    expect(await early).toBe('stale')
    expect(await late).toBe('fresh')
    expect(cache.stats().staleSetsPrevented).toBe(1)
    expect(await cache.getOrLoad('k', ['T'], () => 'unused')).toBe('fresh')
  })

  test('a failing loader fails every joined caller and caches nothing', async () => {
    const cache = memoryCache()
    const gate = deferred<string>()
    const callers = [1, 2, 3].map(() => cache.getOrLoad('k', [], () => gate.promise))
    gate.reject(new Error('db down'))
    for (const caller of callers) await expect(caller).rejects.toThrow('db down')
    expect(await cache.getOrLoad('k', [], () => 'ok')).toBe('ok')
  })

  test('entries expire after their TTL', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const cache = memoryCache({ ttl: '10s' })
    const loader = vi.fn(() => 'v')
    await cache.getOrLoad('default', [], loader)
    await cache.getOrLoad('short', [], loader, { ttl: '1s' })
    vi.advanceTimersByTime(2_000)
    await cache.getOrLoad('default', [], loader)
    await cache.getOrLoad('short', [], loader, { ttl: '1s' })
    expect(loader).toHaveBeenCalledTimes(3)
    vi.advanceTimersByTime(9_000)
    await cache.getOrLoad('default', [], loader)
    expect(loader).toHaveBeenCalledTimes(4)
  })

  test('l1.ttl caps how long memory serves an entry', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const cache = memoryCache({ ttl: '1h', l1: { ttl: '1s' } })
    const loader = vi.fn(() => 'v')
    await cache.getOrLoad('k', [], loader)
    vi.advanceTimersByTime(1_500)
    await cache.getOrLoad('k', [], loader)
    expect(loader).toHaveBeenCalledTimes(2)
  })

  test('the byte budget holds when filled far past it', async () => {
    const maxBytes = 256 * 1024
    const cache = memoryCache({ l1: { maxBytes } })
    const row = (i: number) => ({ id: i, payload: 'x'.repeat(1_000) })
    for (let i = 0; i < 2_000; i++) await cache.getOrLoad(`row:${i}`, ['Row', `Row:${i}`], () => row(i))
    const { l1Bytes, l1Entries } = cache.stats()
    expect(l1Bytes).toBeLessThanOrEqual(maxBytes)
    expect(l1Bytes).toBeGreaterThan(maxBytes * 0.8)
    // Each entry holds at least its ~1 KB of bytes: the count is bounded by the budget.
    expect(l1Entries).toBeLessThan(maxBytes / 1_000)
    expect(l1Entries).toBeGreaterThan(100)
    // The oldest were evicted and load again; the newest are still hits.
    const loader = vi.fn((i: number) => row(i))
    await cache.getOrLoad('row:0', ['Row', 'Row:0'], () => loader(0))
    await cache.getOrLoad('row:1999', ['Row', 'Row:1999'], () => loader(1999))
    expect(loader).toHaveBeenCalledTimes(1)
  })

  test('a value over maxEntryBytes is returned but not cached', async () => {
    const cache = memoryCache({ maxEntryBytes: 100 })
    const loader = vi.fn(() => 'y'.repeat(500))
    expect(await cache.getOrLoad('big', [], loader)).toHaveLength(500)
    expect(await cache.getOrLoad('big', [], loader)).toHaveLength(500)
    expect(loader).toHaveBeenCalledTimes(2)
    expect(cache.stats().oversized).toBe(2)
  })

  test('a value the codec cannot carry exactly is served every time and never cached', async () => {
    const cache = memoryCache()
    const loader = vi.fn(() => JSON.parse('{"settings":{"__proto__":{"admin":true}}}'))
    const first = await cache.getOrLoad('k', [], loader)
    const second = await cache.getOrLoad('k', [], loader)
    expect(Object.hasOwn(first.settings, '__proto__')).toBe(true)
    expect(second).toStrictEqual(first)
    expect(loader).toHaveBeenCalledTimes(2)
    expect(cache.stats().unencodable).toBe(2)
  })

  test('l1: false caches nothing without Redis', async () => {
    const cache = memoryCache({ l1: false })
    const loader = vi.fn(() => 1)
    await cache.getOrLoad('k', [], loader)
    await cache.getOrLoad('k', [], loader)
    expect(loader).toHaveBeenCalledTimes(2)
  })

  test('bad arguments and a closed cache give clear errors', async () => {
    const cache = memoryCache()
    await expect(cache.getOrLoad('', [], () => 1)).rejects.toThrow(/`key`/)
    await expect(cache.getOrLoad('k', 'User' as unknown as string[], () => 1)).rejects.toThrow(/`tags`/)
    await expect(cache.invalidate({ tags: [''] })).rejects.toThrow(/`tags`/)
    await expect(cache.invalidate({})).rejects.toThrow(/`tags` must be given, or `tables`/)
    await expect(cache.invalidate({ tables: ['users', ''] })).rejects.toThrow(/`tables`/)
    await expect(cache.getOrLoad('k', [], () => 1, { ttl: '-1ms' })).rejects.toThrow(/`ttl`/)
    // @ts-expect-error durations carry their unit
    await expect(cache.getOrLoad('k', [], () => 1, { ttl: 1_000 })).rejects.toThrow(/not a bare number/)
    await cache.close()
    await expect(cache.getOrLoad('k', [], () => 1)).rejects.toThrow(CacheClosedError)
  })
})

describe('clock', () => {
  test('TTLs run on the clock the cache is given', async () => {
    let now = 1_000_000
    const cache = createAdapterCache({ ttl: '1s' }, { now: () => now })
    caches.push(cache)
    const loader = vi.fn(async () => 'value')
    await cache.getOrLoad('k', ['T'], loader)
    now += 999
    await cache.getOrLoad('k', ['T'], loader)
    expect(loader).toHaveBeenCalledTimes(1)
    now += 1
    await cache.getOrLoad('k', ['T'], loader)
    expect(loader).toHaveBeenCalledTimes(2)
  })
})
