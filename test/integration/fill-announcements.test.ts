import { Redis } from 'ioredis'
import { afterEach, describe, expect, test } from 'vitest'
import { redisCaches } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { redisUrl } from '../helpers/services.js'

const redis = redisCaches('fill-announce')
const clients: Redis[] = []
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect()
})

/** A client that counts the commands it sends on one key: a waiter's looks at the entry. */
async function countingClient(entryKey: string) {
  const client = new Redis(await redisUrl())
  clients.push(client)
  const looks = { count: 0 }
  const send = client.sendCommand.bind(client)
  client.sendCommand = (command, stream) => {
    if (command.args[0] === entryKey) looks.count++
    return send(command, stream)
  }
  return { client, looks }
}

/** Long enough that a waiter polling on a timer (1 ms, growing to 25 ms) would look some 25 times. */
const HOLD_MS = 500

/**
 * One instance's load of 'hot' kept under way, and a second instance waiting on it for HOLD_MS
 * (its loader `waiterLoader`), its looks at the entry counted meanwhile. The holder's load ends
 * when the test settles it.
 */
async function waitOnHeldLoad(waiterLoader: () => string) {
  const prefix = redis.prefix()
  const holder = await redis.liveCache(prefix)
  const { client, looks } = await countingClient(redis.entryKey(prefix, 'hot'))
  const waiter = await redis.liveCache(prefix, { redis: client })
  let settle!: { resolve(value: string): void; reject(error: Error): void }
  const held = holder.getOrLoad(
    'hot',
    ['T'],
    () => new Promise<string>((resolve, reject) => (settle = { resolve, reject })),
  )
  const admin = await redis.admin()
  await until(async () => (await admin.getBuffer(redis.entryKey(prefix, 'hot')))?.[0] === 0, 'the fill lock')
  const waited = waiter.getOrLoad('hot', ['T'], waiterLoader)
  await until(() => waiter.stats().lockWaits === 1, 'the waiter to wait')
  const startedWaiting = looks.count
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS))
  return { held, waited, waiter, settle, looksWhileHeld: looks.count - startedWaiting }
}

describe("a waiter on another instance's load hears when its lock ends", () => {
  test('the entry stored over the lock wakes the waiter: one look, not a poll every few ms', async () => {
    let loads = 0
    const { held, waited, waiter, settle, looksWhileHeld } = await waitOnHeldLoad(() => {
      loads++
      return 'loaded by the waiter'
    })
    settle.resolve('loaded by the holder')
    expect(await held).toBe('loaded by the holder')
    expect(await waited).toBe('loaded by the holder')
    expect(loads).toBe(0)
    // One look once its subscription is confirmed, then one every 100 ms in case the holder died.
    expect(looksWhileHeld).toBeLessThanOrEqual(1 + HOLD_MS / 100)
    expect(waiter.stats()).toMatchObject({ lockWaits: 1, lockTimeouts: 0, loads: 0, l2Hits: 1 })
  })

  test('a holder whose load fails releases the lock and wakes the waiter, which loads', async () => {
    const { held, waited, waiter, settle, looksWhileHeld } = await waitOnHeldLoad(() => 'loaded by the waiter')
    settle.reject(new Error('the database is gone'))
    await expect(held).rejects.toThrow('the database is gone')
    expect(await waited).toBe('loaded by the waiter')
    expect(looksWhileHeld).toBeLessThanOrEqual(1 + HOLD_MS / 100)
    expect(waiter.stats()).toMatchObject({ lockWaits: 1, lockTimeouts: 0, loads: 1 })
  })

  test('no fill channel stays subscribed once the waiters are done', async () => {
    const prefix = redis.prefix()
    const holder = await redis.liveCache(prefix)
    const waiters = await Promise.all([1, 2].map(() => redis.liveCache(prefix)))
    let release!: (value: string) => void
    const held = holder.getOrLoad('hot', ['T'], () => new Promise<string>((resolve) => (release = resolve)))
    const admin = (await redis.admin()) as Redis
    await until(async () => (await admin.getBuffer(redis.entryKey(prefix, 'hot')))?.[0] === 0, 'the fill lock')
    const waited = waiters.map((waiter) => waiter.getOrLoad('hot', ['T'], () => 'loaded by a waiter'))
    const fillChannels = async () => (await admin.pubsub('CHANNELS', `${prefix}:bus:fill:*`)) as string[]
    await until(async () => (await fillChannels()).length === 1, 'the waiters to subscribe')
    release('loaded by the holder')
    expect(await Promise.all([held, ...waited])).toEqual(Array(3).fill('loaded by the holder'))
    await until(async () => (await fillChannels()).length === 0, 'the fill channel to be left')
  })
})
