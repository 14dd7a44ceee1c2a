// Proves the chaos helper does what chaos tests rely on, and that nothing it
// starts outlives the test, or the process, that started it.
import { readlinkSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { disposeAfterTest } from './lifecycle.js'
import { deleteKeysWithPrefix, uniquePrefix } from './prefix.js'
import { type RedisServer, startRedis, startRedisCluster } from './redis-server.js'
import { acceptsConnections, isProcessAlive, useServerChecks } from './server-checks.js'

const servers = useServerChecks()

// redis-server runs in its dir (--dir).
function remember(server: RedisServer, extraPorts: number[] = []): void {
  servers.remember({ dir: readlinkSync(`/proc/${server.pid}/cwd`), ports: [server.port, ...extraPorts] })
}

describe('startRedis', () => {
  test('serves commands, dies on kill and comes back empty on restart', async () => {
    const server = disposeAfterTest(await startRedis())
    remember(server)
    // No retries or offline queue: a dead server must show up as an error, not a wait.
    const client = server.client({ lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => 50 })
    client.on('error', () => {})
    await client.connect()
    await client.set('greeting', 'hello')
    expect(await client.get('greeting')).toBe('hello')

    const pidBeforeKill = server.pid!
    await server.kill()
    expect(server.running).toBe(false)
    expect(isProcessAlive(pidBeforeKill)).toBe(false)
    expect(await acceptsConnections(server.port)).toBe(false)
    await expect(client.get('greeting')).rejects.toThrow()

    await server.restart()
    remember(server)
    expect(server.running).toBe(true)
    const freshClient = server.client()
    expect(await freshClient.get('greeting')).toBeNull()
  })

  test('pause holds every command for about the pause', async () => {
    const server = disposeAfterTest(await startRedis())
    remember(server)
    const client = server.client()
    await client.ping()

    const pauseMs = 400
    await server.pause(pauseMs)
    const startedAt = performance.now()
    await client.set('after-pause', '1')
    const waitedMs = performance.now() - startedAt

    // Redis timers tick every 100 ms at the default hz, so the release can come a little early or late.
    expect(waitedMs).toBeGreaterThan(pauseMs - 110)
    expect(waitedMs).toBeLessThan(pauseMs + 2_000)
  })

  test('passes extra arguments to redis-server', async () => {
    const server = disposeAfterTest(await startRedis({ args: ['--maxmemory', '7mb'] }))
    remember(server)
    const client = server.client()
    expect(await client.config('GET', 'maxmemory')).toEqual(['maxmemory', String(7 * 1024 * 1024)])
  })

  test.fails('is stopped even when its test fails', async () => {
    const server = disposeAfterTest(await startRedis())
    remember(server)
    throw new Error('a failing test; its server must still be stopped')
  })

  test('dies with the process that started it, even one killed without cleanup', async () => {
    await servers.expectToDieWithOwner(
      new URL('./redis-server.ts', import.meta.url),
      `const server = await helper.startRedis()
       return { pid: server.pid, dir: readlinkSync('/proc/' + server.pid + '/cwd'), port: server.port }`,
    )
  })
})

describe('startRedisCluster', () => {
  // redis-cli --cluster create polls for the join once a second: 2 to 10 s here.
  test('forms a 3-node cluster that an ioredis Cluster client can use', { timeout: 90_000 }, async () => {
    const cluster = disposeAfterTest(await startRedisCluster())
    for (const node of cluster.nodes) remember(node, [node.port + 10_000])
    expect(cluster.nodes).toHaveLength(3)

    const client = cluster.client()
    // Hash tags spread the keys over slots owned by different nodes.
    const keys = ['{a}key', '{b}key', '{c}key', '{d}key', '{e}key', '{f}key']
    for (const key of keys) await client.set(key, `value of ${key}`)
    for (const key of keys) expect(await client.get(key)).toBe(`value of ${key}`)

    const slotOwners = new Set(await Promise.all(keys.map((key) => ownerPortOf(cluster.nodes, key))))
    expect(slotOwners.size).toBeGreaterThan(1)

    // The test-cleanup helper reaches keys on every master.
    const prefix = uniquePrefix('cluster')
    for (const key of keys) await client.set(`${prefix}:${key}`, '1')
    await client.set(`{${prefix}}:t:tag`, '1')
    expect(await deleteKeysWithPrefix(client, prefix)).toBe(keys.length + 1)
    for (const key of keys) expect(await client.exists(`${prefix}:${key}`)).toBe(0)
    expect(await client.get('{a}key')).toBe('value of {a}key')
  })
})

async function ownerPortOf(nodes: readonly RedisServer[], key: string): Promise<number> {
  for (const node of nodes) {
    const client = node.client({ lazyConnect: true })
    const owned = (await client.call('CLUSTER', 'COUNTKEYSINSLOT', String(await client.cluster('KEYSLOT', key)))) === 1
    client.disconnect()
    if (owned) return node.port
  }
  throw new Error(`no node holds ${key}`)
}
