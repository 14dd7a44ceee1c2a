import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, test } from 'vitest'
import { runExitingScript } from '../fixtures/exiting-script-run.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { redisUrl } from '../helpers/services.js'

/** A port nothing listens on: taken from the system, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const prefixes: string[] = []
afterEach(async () => {
  const admin = new Redis(await redisUrl())
  for (const prefix of prefixes.splice(0)) await deleteKeysWithPrefix(admin, prefix)
  admin.disconnect()
})

function runToExit(config: { redisUrl: string; appClient?: boolean; close?: boolean }) {
  const prefix = uniquePrefix('process-exit')
  prefixes.push(prefix)
  return runExitingScript({ ...config, prefix })
}

describe('a process that used the cache and never closed it exits by itself', () => {
  test('with Redis there: its connections and timers hold nothing once it is idle', async () => {
    const { code, output } = await runToExit({ redisUrl: await redisUrl() })
    expect(code).toBe(0)
    expect(output).toEqual({ loaded: 'loaded', hit: 'loaded', redis: 'up' })
  })

  test('with Redis unreachable: nor do its attempts to reconnect', async () => {
    const { code, output, stderr } = await runToExit({ redisUrl: `redis://127.0.0.1:${await closedPort()}` })
    expect(code).toBe(0)
    // Nothing is served from memory while other instances' invalidations cannot arrive.
    expect(output).toEqual({ loaded: 'loaded', hit: 'loaded again', redis: 'down' })
    expect(stderr).toContain('ORMCACHE_REDIS_UNREACHABLE')
  })

  test("with the app's own client: the app closes it, and the cache's own bus connection holds nothing", async () => {
    const { code, output } = await runToExit({ redisUrl: await redisUrl(), appClient: true })
    expect(code).toBe(0)
    expect(output).toEqual({ loaded: 'loaded', hit: 'loaded', redis: 'up' })
  })
})

test('a script that awaits close() goes on after it: closing holds the process until it is done', async () => {
  const { code, output } = await runToExit({ redisUrl: await redisUrl(), close: true })
  expect(code).toBe(0)
  expect(output).toEqual({ loaded: 'loaded', hit: 'loaded', redis: 'up' })
})
