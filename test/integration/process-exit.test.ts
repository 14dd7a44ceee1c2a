import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, test } from 'vitest'
import { withDeadline } from '../fixtures/wait.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { redisUrl } from '../helpers/services.js'

const SCRIPT = fileURLToPath(new URL('../fixtures/exiting-script.mjs', import.meta.url))
/** Far past what the script needs; what is tested is that it ends at all, which it used to never do. */
const EXIT_DEADLINE_MS = 20_000

const prefixes: string[] = []
afterEach(async () => {
  const admin = new Redis(await redisUrl())
  for (const prefix of prefixes.splice(0)) await deleteKeysWithPrefix(admin, prefix)
  admin.disconnect()
})

/** Runs the script without an IPC channel (which would keep it alive) and resolves once it has exited. */
async function runToExit(config: { redisUrl: string; appClient?: boolean; close?: boolean }) {
  const prefix = uniquePrefix('process-exit')
  prefixes.push(prefix)
  const child = spawn(process.execPath, [SCRIPT, JSON.stringify({ ...config, prefix })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  try {
    const code = await withDeadline(
      exited,
      () => `the script to exit by itself; its stderr: ${stderr}`,
      EXIT_DEADLINE_MS,
    )
    return { code, output: JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null') as unknown, stderr }
  } finally {
    child.kill('SIGKILL')
  }
}

/** A port nothing listens on: taken from the system, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
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
