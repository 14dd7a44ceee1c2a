import { afterEach, describe, expect, test, vi } from 'vitest'
import { type AdapterCache, createAdapterCache, type ServedOrigin } from '../../src/cache.js'

// `getOrLoad`'s `onServed` (an adapters' hook, not public): where each caller's value came from. In-process tier
// with the clock faked; the Redis origins are observed in the Prisma adapter's tests.

const caches: AdapterCache[] = []
afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

function served() {
  const seen: [ServedOrigin, number | undefined][] = []
  return { seen, onServed: (origin: ServedOrigin, expiresAt: number | undefined) => seen.push([origin, expiresAt]) }
}

describe('onServed', () => {
  test("reports 'loader', then 'l1' with the expiry, then 'stale' under swr", async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const memory = createAdapterCache({ ttl: '1s', swr: '10s' })
    caches.push(memory)
    const { seen, onServed } = served()
    const startedAt = Date.now()
    await memory.getOrLoad('k', ['T'], () => 1, { onServed })
    await memory.getOrLoad('k', ['T'], () => 2, { onServed })
    vi.advanceTimersByTime(1_500)
    expect(await memory.getOrLoad('k', ['T'], () => 3, { onServed })).toBe(1)
    expect(seen).toEqual([
      ['loader', undefined],
      ['l1', startedAt + 1_000],
      ['stale', startedAt + 1_000],
    ])
  })

  test('a caller joining a load under way hears the origin of that load, once', async () => {
    const memory = createAdapterCache()
    caches.push(memory)
    const first = served()
    const joiner = served()
    let release!: (value: number) => void
    const loading = memory.getOrLoad('k', [], () => new Promise<number>((resolve) => (release = resolve)), first)
    const joining = memory.getOrLoad('k', [], () => 2, joiner)
    release(1)
    expect(await Promise.all([loading, joining])).toEqual([1, 1])
    expect(memory.stats().sharedLoads).toBe(1)
    expect(first.seen).toEqual([['loader', undefined]])
    expect(joiner.seen).toEqual([['loader', undefined]])
  })

  test('is not called when the loader fails', async () => {
    const memory = createAdapterCache()
    caches.push(memory)
    const { seen, onServed } = served()
    await expect(memory.getOrLoad('k', [], () => Promise.reject(new Error('down')), { onServed })).rejects.toThrow(
      'down',
    )
    expect(seen).toEqual([])
  })
})
