import { fork } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, onTestFinished, test } from 'vitest'
import { redisCaches } from '../fixtures/redis-cache.js'
import { TYPESCRIPT_EXEC_ARGV } from '../fixtures/typescript-workers.js'
import { until } from '../fixtures/wait.js'
import { redisUrl } from '../helpers/services.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

// A read that joins a load already under way in its process is served from that process's
// memory, as an L1 hit is: it must not be joined while another instance's invalidation may be
// waiting unread in the bus's socket (a starved or stalled process), or the joiner, which began
// after that write returned, gets what the load read before it.

const WORKER = fileURLToPath(new URL('../fixtures/invalidating-worker.ts', import.meta.url))
const redis = redisCaches('flight-unread-bus')
let database: Redis
let dir: string

beforeAll(async () => {
  database = new Redis(await redisUrl())
  dir = mkdtempSync(join(tmpdir(), 'ormcache-flight-'))
})
afterAll(() => {
  database.disconnect()
  rmSync(dir, { recursive: true, force: true })
})

/** Blocks the event loop, as a starved process does: no socket is read meanwhile. */
function spinUntil(condition: () => boolean, ms: number): void {
  const end = Date.now() + ms
  while (!condition() && Date.now() < end) {}
}

test("a load under way is not joined after another process's write while the bus is unread", async () => {
  const prefix = redis.prefix()
  const valueKey = `${prefix}:value`
  await database.set(valueKey, 'old')
  const cache = await redis.liveCache(prefix)
  const doneFile = join(dir, `${prefix}.done`)
  const writer = fork(
    WORKER,
    [JSON.stringify({ redisUrl: await redisUrl(), prefix, valueKey, tag: 'Value', doneFile })],
    {
      execArgv: [...TYPESCRIPT_EXEC_ARGV],
    },
  )
  try {
    const [ready] = await once(writer, 'message')
    expect(ready).toEqual({ type: 'ready' })

    // A load that read the database before the write, and has not returned yet.
    let release!: (value: string) => void
    let loading = false
    const first = cache.getOrLoad('value', ['Value'], () => {
      loading = true
      return new Promise<string>((resolve) => {
        release = resolve
      })
    })
    await until(() => loading, 'the first load to start')

    writer.send('new')
    // The writer's invalidation has returned: its bus message is in this process's socket, unread.
    spinUntil(() => existsSync(doneFile), 10_000)
    expect(existsSync(doneFile)).toBe(true)
    spinUntil(() => false, 5)
    release('old')
    const second = cache.getOrLoad('value', ['Value'], async () => (await database.get(valueKey)) ?? 'missing')

    expect(await first).toBe('old')
    expect(await second).toBe('new')
    expect(cache.stats().sharedLoads).toBe(0)
  } finally {
    if (writer.exitCode === null) writer.kill('SIGKILL')
  }
})

test('a load under way is not joined while the bus is down: invalidations sent meanwhile are lost to it', async () => {
  const prefix = redis.prefix()
  const valueKey = `${prefix}:value`
  await database.set(valueKey, 'old')
  // The reader reaches Redis through a proxy, so its connections alone can be cut.
  const proxy = await startTcpProxy({ port: Number(new URL(await redisUrl()).port) })
  onTestFinished(() => proxy.close())
  const readerClient = new Redis({ port: proxy.port, enableOfflineQueue: false, retryStrategy: () => 20 })
  readerClient.on('error', () => {})
  onTestFinished(() => readerClient.disconnect())
  const reader = await redis.liveCache(prefix, { redis: readerClient })
  const writer = await redis.liveCache(prefix)
  await proxy.cut()
  await until(() => reader.stats().bus === 'down', "the reader's bus to go down")

  let release!: (value: string) => void
  let loading = false
  const first = reader.getOrLoad('value', ['Value'], () => {
    loading = true
    return new Promise<string>((resolve) => {
      release = resolve
    })
  })
  await until(() => loading, 'the first load to start')
  await database.set(valueKey, 'new')
  await writer.invalidate({ tags: ['Value'] })
  // Decided while the first load is still under way.
  const second = reader.getOrLoad('value', ['Value'], async () => (await database.get(valueKey)) ?? 'missing')
  await new Promise((resolve) => setTimeout(resolve, 50))
  release('old')

  expect(await first).toBe('old')
  expect(await second).toBe('new')
  expect(reader.stats().sharedLoads).toBe(0)
})
