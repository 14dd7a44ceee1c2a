// Read-your-writes across instances: a session (a request, a job) that carries the bus position of
// its last write never reads from the memory of an instance that has not applied that write yet.
// Two caches on one Redis prefix stand for two instances of an app.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import { type Cache, consistencyToken, readYourWrites, withReadYourWrites } from '../../src/index.js'
import { redisCaches } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'

const redis = redisCaches('read-your-writes')

/** Loads `k` (tag `T`) on `cache`, then reads it again: the second read is a memory hit. */
async function inMemory(cache: Cache, value: string): Promise<void> {
  await cache.getOrLoad('k', ['T'], () => value)
  const hits = cache.stats().l1Hits
  expect(await cache.getOrLoad('k', ['T'], () => 'loaded again')).toBe(value)
  expect(cache.stats().l1Hits).toBe(hits + 1)
}

describe('a session that wrote', () => {
  test('gets a token naming the position of its write on this prefix', async () => {
    const prefix = redis.prefix()
    const cache = await redis.liveCache(prefix)
    expect(withReadYourWrites(undefined, () => consistencyToken())).toBeUndefined()
    const token = await withReadYourWrites(undefined, async () => {
      await cache.invalidate({ tags: ['T'] })
      const first = consistencyToken()
      await cache.invalidate({ tags: ['T'] })
      return [first, consistencyToken()]
    })
    const [first, second] = token.map((part) => part?.split('~'))
    expect(first?.[0]).toBe(prefix)
    expect(Number(second?.[1])).toBe(Number(first?.[1]) + 1)
    expect(consistencyToken()).toBeUndefined()
  })

  test('reads past the memory of an instance behind its write, and from memory once it has caught up', async () => {
    const prefix = redis.prefix()
    const writer = await redis.liveCache(prefix)
    const reader = await redis.liveCache(prefix)
    await inMemory(reader, 'v1')
    const received = reader.stats().invalidationsReceived
    const token = await withReadYourWrites(undefined, async () => {
      await writer.invalidate({ tags: ['T'] })
      return consistencyToken()
    })
    // A token one write further than anything published: the reader is behind it, whatever its bus did.
    const [, position, at] = token?.split('~') ?? []
    const ahead = `${prefix}~${Number(position) + 1}~${at}`
    await until(() => reader.stats().invalidationsReceived > received, 'the reader to apply the write')
    await reader.getOrLoad('k', ['T'], () => 'v2')
    await redis.stored(prefix, 'k')
    const hits = reader.stats().l1Hits
    expect(await withReadYourWrites(ahead, () => reader.getOrLoad('k', ['T'], () => 'v3'))).toBe('v2')
    expect(reader.stats().l1Hits).toBe(hits)
    // The write it carries has been applied here: memory serves.
    expect(await withReadYourWrites(token, () => reader.getOrLoad('k', ['T'], () => 'v4'))).toBe('v2')
    expect(reader.stats().l1Hits).toBe(hits + 1)
  })

  test('tokens that are spent, malformed or of another prefix change nothing', async () => {
    const prefix = redis.prefix()
    const cache = await redis.liveCache(prefix)
    await inMemory(cache, 'v1')
    const now = Date.now()
    for (const token of [
      `${prefix}~999999~${now - 60_000}`,
      `${prefix}~nine~${now}`,
      `${prefix}~999999`,
      `other-prefix~999999~${now}`,
      'garbage',
      '~~~!!!',
      'x'.repeat(5_000),
    ]) {
      const hits = cache.stats().l1Hits
      expect(await withReadYourWrites(token, () => cache.getOrLoad('k', ['T'], () => 'loaded'))).toBe('v1')
      expect(cache.stats().l1Hits, token.slice(0, 40)).toBe(hits + 1)
    }
  })
})

describe('the middleware', () => {
  let server: Server | undefined
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve))
    server = undefined
  })

  test('hands a writing request its token (cookie and header), and seeds the next request with it', async () => {
    const prefix = redis.prefix()
    const cache = await redis.liveCache(prefix)
    const middleware = readYourWrites()
    const seen: (string | undefined)[] = []
    server = createServer((request, response) => {
      middleware(request, response, async () => {
        seen.push(consistencyToken())
        if (request.url === '/write') await cache.invalidate({ tags: ['T'] })
        response.setHeader('set-cookie', 'app=1')
        response.end('ok')
      })
    })
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    const read = await fetch(`${base}/read`)
    expect(read.headers.get('x-ormcache-token')).toBeNull()
    expect(read.headers.getSetCookie()).toEqual(['app=1'])

    const write = await fetch(`${base}/write`)
    const token = write.headers.get('x-ormcache-token')
    expect(token).toMatch(new RegExp(`^${prefix}~\\d+~\\d+$`))
    expect(write.headers.getSetCookie()).toEqual([
      'app=1',
      `ormcache-token=${token}; Path=/; Max-Age=5; HttpOnly; SameSite=Lax`,
    ])

    await fetch(`${base}/read`, { headers: { cookie: `app=1; ormcache-token=${token}` } })
    await fetch(`${base}/read`, { headers: { 'x-ormcache-token': token ?? '' } })
    expect(seen).toEqual([undefined, undefined, token, token])
  })
})
