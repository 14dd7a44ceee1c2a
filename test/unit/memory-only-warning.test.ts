// `redis: process.env.REDIS_URL` with the variable unset: said once, as a Node warning with a code.
import { expect, test } from 'vitest'
import { resolvePrismaOptions } from '../../adapters/prisma/options.js'
import { createCache } from '../../src/index.js'

async function warningsDuring(work: () => Promise<void>): Promise<{ code?: string; message: string }[]> {
  const warnings: { code?: string; message: string }[] = []
  const listener = (warning: Error & { code?: string }) =>
    warnings.push({ code: warning.code, message: warning.message })
  process.on('warning', listener)
  try {
    await work()
    // Node emits warnings on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', listener)
  }
  return warnings.filter((warning) => warning.code?.startsWith('ORMCACHE_'))
}

test('a cache given `redis: undefined` says once that it runs in memory only; one without `redis` says nothing', async () => {
  expect(await warningsDuring(() => createCache({ prefix: 'mem-a' }).close())).toEqual([])
  const warned = await warningsDuring(async () => {
    await createCache({ redis: undefined, prefix: 'mem-b' }).close()
    await createCache({ redis: undefined, prefix: 'mem-c' }).close()
  })
  expect(warned).toEqual([
    { code: 'ORMCACHE_MEMORY_ONLY', message: expect.stringContaining('option `redis` is undefined') },
  ])
})

test('the Prisma adapter hands the engine the `redis` key as given, so its users are warned too', () => {
  expect('redis' in resolvePrismaOptions({ redis: undefined }).cache).toBe(true)
  expect('redis' in resolvePrismaOptions({}).cache).toBe(false)
})
