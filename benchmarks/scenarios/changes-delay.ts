import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { fileURLToPath } from 'node:url'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { createCache } from '../../src/index.js'
import { forkWatched, until } from '../../test/fixtures/wait.js'
import { startMariadb } from '../../test/helpers/mariadb-server.js'
import { startPostgres } from '../../test/helpers/postgres-server.js'
import type { Run } from '../harness.js'

/** A stream's start: a private server's slot, on a loaded machine. */
const STREAMING_MS = 30_000
/** A change takes milliseconds; one that has not arrived in this long is lost. */
const ARRIVAL_MS = 10_000
/** Lease TTL (3 s) plus a standby's poll (1 s), with room for a loaded machine. */
const TAKEOVER_MS = 30_000

/** A database with a one-row table, and a plain client (no ORM, no cache) to update it as another service would. */
interface ChangingDatabase {
  readonly name: string
  readonly url: string
  update(): Promise<void>
  close(): Promise<void>
}

const TABLE = 'CREATE TABLE item (id int PRIMARY KEY, v int NOT NULL); INSERT INTO item VALUES (1, 0)'
const UPDATE = 'UPDATE item SET v = v + 1 WHERE id = 1'

/**
 * How long a write made outside the app (a plain SQL UPDATE, as psql or another service makes it)
 * may still be served: from the UPDATE's return to its invalidation in the instance that follows
 * the database's change stream, and to its arrival in another instance over the bus. Then the
 * takeover: from the consumer's death (SIGKILL) until a standby follows the stream. On a private
 * PostgreSQL (wal_level = logical) and a private MariaDB (row binlog), started and stopped here.
 */
export async function changesDelayScenario(run: Run, redisUrl: string): Promise<void> {
  for (const open of [openPostgres, openMariadb]) {
    const database = await open()
    try {
      await measureDelay(run, redisUrl, database)
      await measureTakeover(run, redisUrl, database)
    } finally {
      await database.close()
    }
  }
}

async function openPostgres(): Promise<ChangingDatabase> {
  const server = await startPostgres()
  const url = await server.createDatabase('bench_changes')
  await server.query(TABLE, [], 'bench_changes')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return {
    name: 'PostgreSQL',
    url,
    update: async () => void (await client.query(UPDATE)),
    async close() {
      await client.end()
      await server.stop()
    },
  }
}

async function openMariadb(): Promise<ChangingDatabase> {
  const server = await startMariadb()
  const url = await server.createDatabase('bench_changes')
  await server.query(TABLE, [], 'bench_changes')
  const connection = await mysql.createConnection({ uri: url })
  return {
    name: 'MariaDB',
    url,
    update: async () => void (await connection.query(UPDATE)),
    async close() {
      await connection.end()
      await server.stop()
    },
  }
}

async function measureDelay(run: Run, redisUrl: string, database: ChangingDatabase): Promise<void> {
  const prefix = `bench-changes-${process.pid}`
  const databaseUrl = database.url
  const consumer = createCache({ redis: redisUrl, prefix, changes: databaseUrl })
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
      await database.update()
      const committedAt = wallClock()
      const { at } = await receiver.nextMessage<{ at: number }>(`update ${round} to reach ${receiver.name}`, ARRIVAL_MS)
      await until(() => invalidatedAt.length > 0, `update ${round} to be invalidated by the consumer`, ARRIVAL_MS)
      toConsumer.push(Math.max(0, (invalidatedAt[0] ?? 0) - committedAt) * 1_000)
      toOther.push(Math.max(0, at - committedAt) * 1_000)
    }
    run.record(scenario(database), 'outside UPDATE to its invalidation by the consuming instance', toConsumer)
    run.record(scenario(database), 'outside UPDATE to its arrival in another instance', toOther)
  } finally {
    unsubscribe('ormcache:invalidate', onInvalidate)
    receiver.process.kill()
    await consumer.close()
  }
}

async function measureTakeover(run: Run, redisUrl: string, { url: databaseUrl, ...database }: ChangingDatabase) {
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
  run.record(scenario(database), "consumer killed (SIGKILL) to a standby's stream", takeovers)
}

function scenario(database: Pick<ChangingDatabase, 'name'>): string {
  return `change stream, ${database.name}`
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
