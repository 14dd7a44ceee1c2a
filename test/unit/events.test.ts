import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { afterEach, expect, test } from 'vitest'
import { createCache } from '../../src/index.js'

const subscriptions: [string, (message: unknown) => void][] = []
afterEach(() => {
  for (const [name, listener] of subscriptions.splice(0)) unsubscribe(name, listener)
})

function record(name: string): unknown[] {
  const messages: unknown[] = []
  const listener = (message: unknown) => messages.push(message)
  subscribe(name, listener)
  subscriptions.push([name, listener])
  return messages
}

test('hits, misses, loads and invalidations go out on diagnostics channels', async () => {
  const hits = record('ormcache:hit')
  const misses = record('ormcache:miss')
  const loads = record('ormcache:load')
  const invalidations = record('ormcache:invalidate')
  const cache = createCache({ prefix: 'events' })
  await cache.getOrLoad('k', ['T'], () => 1)
  await cache.getOrLoad('k', ['T'], () => 1)
  await cache.invalidate({ tags: ['T'] })
  await cache.invalidateAll()
  await cache.close()
  expect(misses).toEqual([{ prefix: 'events', key: 'k' }])
  expect(hits).toEqual([{ prefix: 'events', key: 'k', tier: 'l1' }])
  expect(loads).toEqual([{ prefix: 'events', key: 'k', durationMs: expect.any(Number) }])
  expect(invalidations).toEqual([
    { prefix: 'events', tags: ['T'], origin: 'local' },
    { prefix: 'events', tags: undefined, origin: 'local' },
  ])
})
