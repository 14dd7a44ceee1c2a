import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { createCache } from '../../src/index.js'
import { forkWatched, until } from '../../test/fixtures/wait.js'
import { startPostgres } from '../../test/helpers/postgres-server.js'
import type { Run } from '../harness.js'

/** A stream's start: a private server's slot, on a loaded machine. */
const STREAMING_MS = 30_000
/** A change takes milliseconds; one that has not arrived in this long is lost. */
const ARRIVAL_MS = 10_000
/** Lease TTL (3 s) plus a standby's poll (1 s), with room for a loaded machine. */
const TAKEOVER_MS = 30_000

const SCENARIO = 'database change stream'

/**
 * How long a write made outside the app (a plain SQL UPDATE, as psql or another service makes it)
 * may still be served: from the UPDATE's return to its invalidation in the instance that follows
 * PostgreSQL's change stream, and to its arrival in another instance over the bus. Then the
 * takeover: from the consumer's death (SIGKILL) until a standby follows the stream. On a private
 * PostgreSQL with wal_level = logical, started and stopped here.
 */
export async function changesDelayScenario(run: Run, redisUrl: string): Promise<void> {
  const server = await startPostgres()
  try {
    const databaseUrl = await server.createDatabase('bench_changes')
    await server.query(
      'CREATE TABLE item (id int PRIMARY KEY, v int NOT NULL); INSERT INTO item VALUES (1, 0)',
      [],
      'bench_changes',
    )
    await measureDelay(run, redisUrl, databaseUrl)
    await measureTakeover(run, redisUrl, databaseUrl)
  } finally {
    await server.stop()
  }
}

async function measureDelay(run: Run, redisUrl: string, databaseUrl: string): Promise<void> {
  const prefix = `bench-changes-${process.pid}`
  const consumer = createCache({ redis: redisUrl, prefix, changes: databaseUrl })
  const sql = new pg.Client({ connectionString: databaseUrl })
  await sql.connect()
  const receiver = forkWatched('the change-delay receiver', fileURLToPath(import.meta.url), [
    'receiver',
    redisUrl,
    prefix,
    databaseUrl,
  ])
  const invalidatedAt: number[] = []
  const onInvalidate = (message: unknown) => {
    const { origin, tags } = message as { origin: string; tags?: string[] }
    // The stream's own invalidations; not the invalidate-everything of its start.
    if (origin === 'local' && tags !== undefined) invalidatedAt.push(wallClock())
  }
  subscribe('ormcache:invalidate', onInvalidate)
  try {
    await until(() => consumer.stats().changes?.state === 'streaming', 'the consumer to stream', STREAMING_MS)
    await receiver.nextMessage(`${receiver.name} to stand by`, STREAMING_MS)
    const rounds = run.quick ? 30 : 300
    const toConsumer: number[] = []
    const toOther: number[] = []
    for (let round = 0; round < rounds; round++) {
      invalidatedAt.length = 0
      await sql.query('UPDATE item SET v = v + 1 WHERE id = 1')
      const committedAt = wallClock()
      const { at } = await receiver.nextMessage<{ at: number }>(`update ${round} to reach ${receiver.name}`, ARRIVAL_MS)
      await until(() => invalidatedAt.length > 0, `update ${round} to be invalidated by the consumer`, ARRIVAL_MS)
      toConsumer.push(Math.max(0, (invalidatedAt[0] ?? 0) - committedAt) * 1_000)
      toOther.push(Math.max(0, at - committedAt) * 1_000)
    }
    run.record(SCENARIO, 'outside UPDATE to its invalidation by the consuming instance', toConsumer)
    run.record(SCENARIO, 'outside UPDATE to its arrival in another instance', toOther)
  } finally {
    unsubscribe('ormcache:invalidate', onInvalidate)
    receiver.process.kill()
    await sql.end()
    await consumer.close()
  }
}

async function measureTakeover(run: Run, redisUrl: string, databaseUrl: string): Promise<void> {
  const rounds = run.quick ? 1 : 5
  const takeovers: number[] = []
  for (let round = 0; round < rounds; round++) {
    const prefix = `bench-takeover-${process.pid}-${round}`
    const consumer = forkWatched('the consumer to kill', fileURLToPath(import.meta.url), [
      'consumer',
      redisUrl,
      prefix,
      databaseUrl,
    ])
    let standby: ReturnType<typeof createCache> | undefined
    try {
      await consumer.nextMessage(`${consumer.name} to stream`, STREAMING_MS)
      standby = createCache({ redis: redisUrl, prefix, changes: databaseUrl })
      await until(() => standby?.stats().changes?.state === 'standby', 'the standby', STREAMING_MS)
      const killedAt = wallClock()
      consumer.process.kill('SIGKILL')
      await until(() => standby?.stats().changes?.state === 'streaming', 'the standby to take over', TAKEOVER_MS)
      takeovers.push((wallClock() - killedAt) * 1_000)
    } finally {
      consumer.process.kill('SIGKILL')
      await standby?.close()
    }
  }
  run.record(SCENARIO, "consumer killed (SIGKILL) to a standby's stream", takeovers)
}

/** Milliseconds on the machine's shared wall clock, comparable across processes. */
function wallClock(): number {
  return performance.timeOrigin + performance.now()
}

// The other processes: another instance standing by (reporting invalidations as they arrive), or
// a consumer to kill. Each tells its parent when it is in place; the IPC channel keeps it alive.
const role = process.argv[2]
if (role === 'receiver' || role === 'consumer') {
  const [, , , redisUrl, prefix, databaseUrl] = process.argv
  const cache = createCache({ redis: redisUrl, prefix, changes: databaseUrl })
  const expected = role === 'receiver' ? 'standby' : 'streaming'
  if (role === 'receiver') {
    subscribe('ormcache:invalidate', (message) => {
      const { origin, tags } = message as { origin: string; tags?: string[] }
      if (origin === 'remote' && tags !== undefined) process.send?.({ at: wallClock() })
    })
  }
  await until(() => cache.stats().changes?.state === expected, `this instance to be ${expected}`, STREAMING_MS)
  await until(() => cache.stats().bus === 'live', "this instance's bus to be live", STREAMING_MS)
  process.on('message', () => {})
  process.send?.(expected)
}
