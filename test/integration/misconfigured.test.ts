import { afterEach, expect, test } from 'vitest'
import { REDIS_UNREACHABLE_WARNING } from '../../src/cache.js'
import { type Cache, createCache } from '../../src/index.js'
import { until } from '../fixtures/wait.js'
import { uniquePrefix } from '../helpers/prefix.js'

// A wrong port (or host, or password) must not be silent: every read would go to the database
// and nothing would say why.

const caches: Cache[] = []
const warnings: Error[] = []
const collect = (warning: Error) => warnings.push(warning)

afterEach(async () => {
  process.off('warning', collect)
  warnings.length = 0
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

test('an unreachable Redis is reported once, as a Node warning with a code and the cause', async () => {
  process.on('warning', collect)
  // Port 1: nothing listens there, the connection is refused at once.
  const cache = createCache({ redis: 'redis://127.0.0.1:1', prefix: uniquePrefix('misconfigured'), timeout: '100ms' })
  caches.push(cache)
  for (let i = 0; i < 3; i++) expect(await cache.getOrLoad('k', ['T'], () => i)).toBe(i)
  await until(
    () => warnings.some((warning) => (warning as { code?: string }).code === REDIS_UNREACHABLE_WARNING),
    'the warning',
  )
  const ours = warnings.filter((warning) => (warning as { code?: string }).code === REDIS_UNREACHABLE_WARNING)
  expect(ours).toHaveLength(1)
  expect(ours[0]?.name).toBe('OrmCacheWarning')
  expect(ours[0]?.message).toMatch(/127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)/)
  expect(cache.stats().redis).toBe('down')
})
