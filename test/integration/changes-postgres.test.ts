// PostgreSQL's change stream (logical replication) on a private server started with
// wal_level = logical: the shared suite (change-stream-suite.ts), then what only PostgreSQL has:
// slots, the publication, and a server that cannot stream.

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { describe, expect, test } from 'vitest'
import { createCache } from '../../src/index.js'
import { PrismaClient } from '../adapters/prisma/generated/client.js'
import { TEST_REDIS_TIMEOUT } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { useResource } from '../helpers/lifecycle.js'
import { startPostgres } from '../helpers/postgres-server.js'
import { startRedis } from '../helpers/redis-server.js'
import { postgresUrl, redisUrl } from '../helpers/services.js'
import { type CachedPrisma, changeStreamSuite, extendWithCache, FRESH_WITHIN_MS } from './change-stream-suite.js'

const server = useResource(() => startPostgres())
const SCHEMA_SQL = readFileSync(new URL('../adapters/prisma/schema.sql', import.meta.url), 'utf8')
let sql: pg.Client | undefined

const suite = changeStreamSuite({
  name: 'postgres',
  async setup() {
    const url = await server().createDatabase('app')
    sql = new pg.Client({ connectionString: url })
    await sql.connect()
    await sql.query(SCHEMA_SQL)
    // A trigger: a post written anywhere renames its author, a write no ORM call makes.
    await sql.query(`
      CREATE FUNCTION mark_author() RETURNS trigger AS $$
      BEGIN UPDATE "User" SET "name" = 'author of ' || NEW."title" WHERE "id" = NEW."authorId"; RETURN NEW; END
      $$ LANGUAGE plpgsql;
      CREATE TRIGGER post_marks_author AFTER INSERT ON "Post" FOR EACH ROW EXECUTE FUNCTION mark_author();
      CREATE TABLE "AuditLine" ("line" TEXT NOT NULL);`)
    return url
  },
  async teardown() {
    await sql?.end()
  },
  sql: (statement) => query(statement),
  async reset() {
    await query(
      `TRUNCATE "User", "Post", "Profile", "Group", "Membership", "Tag", "_PostToTag" RESTART IDENTITY CASCADE`,
    )
  },
  prisma(databaseUrl, options) {
    const adapter = new PrismaPg({ connectionString: databaseUrl, max: 2 })
    return extendWithCache(new PrismaClient({ adapter }), options)
  },
  typeorm: (url, entities) => ({ type: 'postgres', url, entities, poolSize: 2 }),
  insertTags: (count) => `INSERT INTO "Tag" ("name") SELECT 'tag-' || n FROM generate_series(1, ${count}) AS n`,
  async crashAndRestart() {
    await sql?.end().catch(() => undefined)
    await server().kill()
    await server().restart()
    sql = new pg.Client({ connectionString: suite.databaseUrl() })
    await sql.connect()
  },
})

function query(statement: string, values?: unknown[]) {
  if (sql === undefined) throw new Error('the database is not set up yet')
  return sql.query(statement, values)
}

describe('slots', () => {
  test('no slot is left behind: each consumer uses a temporary slot that goes with its connection', async () => {
    const prefix = suite.prefix('changes-slots')
    const first = suite.app(prefix)
    await until(() => first.$cache.stats().changes?.state === 'streaming', 'the first instance to stream', 15_000)
    const second = suite.app(prefix)
    await until(() => second.$cache.stats().changes?.state === 'standby', 'the second to stand by', 15_000)
    const slots = async () =>
      (await query(`SELECT slot_name, temporary FROM pg_replication_slots`)).rows as { temporary: boolean }[]
    expect(await slots()).toEqual([expect.objectContaining({ temporary: true })])
    await first.$disconnect()
    await until(() => second.$cache.stats().changes?.state === 'streaming', 'the standby to take over', 15_000)
    expect(await slots()).toEqual([expect.objectContaining({ temporary: true })])
    await second.$disconnect()
    await until(async () => (await slots()).length === 0, 'every slot to be dropped')
  })
})

const SLOT_ACTIVE = 'SELECT active FROM pg_replication_slots WHERE slot_name = $1'

describe('a durable slot (changes.slot)', () => {
  test('a consumer that takes over resumes where the last confirmed: writes made meanwhile arrive, nothing else is invalidated', async () => {
    const prefix = suite.prefix('changes-durable')
    const changes = { url: suite.databaseUrl(), slot: 'ormcache_durable_test' }
    // An instance that does not follow the stream: its memory is what the consumers keep right.
    const reader = extendWithCache(
      new PrismaClient({ adapter: new PrismaPg({ connectionString: suite.databaseUrl(), max: 2 }) }),
      { redis: await redisUrl(), prefix, timeout: TEST_REDIS_TIMEOUT },
    )
    let second: CachedPrisma | undefined
    try {
      const first = suite.app(prefix, changes)
      await until(() => first.$cache.stats().changes?.state === 'streaming', 'the first consumer', 15_000)
      // Made now: what committed before it is unknown, and everything was invalidated.
      expect(first.$cache.stats().changes?.gaps).toBe(1)
      await query(`INSERT INTO "User" ("email", "name") VALUES ('a@example.com', 'Ada'), ('b@example.com', 'Bea')`)
      const name = (id: number) => () => reader.user.findUnique({ where: { id }, select: { name: true } })
      await until(async () => (await name(2)()) !== null, 'the rows to be there')
      await until(async () => (await reader.$cache.withInfo(name(1))).info.origin === 'l1', 'user 1 in memory')
      await until(async () => (await reader.$cache.withInfo(name(2))).info.origin === 'l1', 'user 2 in memory')

      await first.$disconnect()
      const slots = await query(
        `SELECT temporary, active FROM pg_replication_slots WHERE slot_name = '${changes.slot}'`,
      )
      expect(slots.rows).toEqual([{ temporary: false, active: false }])
      // Written while no consumer runs: the slot keeps it.
      await query(`UPDATE "User" SET "name" = 'Ada Lovelace' WHERE "id" = 1`)

      second = suite.app(prefix, changes)
      await until(() => second?.$cache.stats().changes?.state === 'streaming', 'the second consumer', 15_000)
      expect(second.$cache.stats().changes?.gaps).toBe(0)
      let last: unknown
      await until(
        async () => {
          last = await name(1)()
          return (last as { name?: string } | null)?.name === 'Ada Lovelace'
        },
        () => `the write made between consumers to arrive; read ${JSON.stringify(last)}`,
        FRESH_WITHIN_MS,
      )
      expect((await reader.$cache.withInfo(name(2))).info.origin).toBe('l1')
    } finally {
      await reader.$disconnect()
      await second?.$disconnect()
      // As the README says to, once no consumer uses it.
      await until(
        async () => (await query(SLOT_ACTIVE, [changes.slot])).rows[0]?.active === false,
        'the slot to be free',
      )
      await query('SELECT pg_drop_replication_slot($1)', [changes.slot])
    }
  })
})

describe('positions are confirmed only once Redis holds their invalidations', () => {
  const redis = useResource(() => startRedis())

  /** The consumer's replication connection as PostgreSQL sees it: positions received and confirmed. */
  async function positions(): Promise<{ received: bigint; confirmed: bigint } | undefined> {
    const { rows } = await query(
      `SELECT write_lsn::text AS received, flush_lsn::text AS confirmed FROM pg_stat_replication
       WHERE application_name = 'ormcache-changes'`,
    )
    // One consumer: an earlier test's, still closing, would make the numbers ambiguous.
    if (rows.length !== 1) return undefined
    const [row] = rows as { received: string | null; confirmed: string | null }[]
    return row === undefined ? undefined : { received: fromLsn(row.received), confirmed: fromLsn(row.confirmed) }
  }

  /**
   * Runs `statement` in a transaction and returns a WAL position inside it, before its commit: the
   * commit is past it, and nothing else is (after the commit the server may log more, which no
   * transaction of ours would confirm until its next keepalive).
   */
  async function committed(statement: string): Promise<bigint> {
    await query('BEGIN')
    await query(statement)
    const { rows } = await query('SELECT pg_current_wal_insert_lsn()::text AS lsn')
    await query('COMMIT')
    return fromLsn((rows[0] as { lsn: string }).lsn)
  }

  test('with Redis down a write is received, not confirmed, and kept to resend; with Redis back it is confirmed', async () => {
    const client = extendWithCache(
      new PrismaClient({ adapter: new PrismaPg({ connectionString: suite.databaseUrl(), max: 2 }) }),
      {
        redis: redis().url,
        prefix: suite.prefix('changes-redis-down'),
        timeout: '200ms',
        changes: suite.databaseUrl(),
      },
    )
    try {
      await until(async () => (await positions()) !== undefined, 'one consumer streaming', 15_000)
      const inserted = await committed(`INSERT INTO "User" ("email") VALUES ('ada@example.com')`)
      await until(async () => ((await positions())?.confirmed ?? 0n) >= inserted, 'the insert to be confirmed')

      await redis().kill()
      const updated = await committed(`UPDATE "User" SET "name" = 'Ada' WHERE "id" = 1`)
      await until(async () => ((await positions())?.received ?? 0n) >= updated, 'the update to be received')
      expect((await positions())?.confirmed).toBeLessThan(updated)
      expect(client.$cache.stats().pendingInvalidations).toBeGreaterThan(0)

      await redis().restart()
      await until(() => client.$cache.stats().pendingInvalidations === 0, 'the invalidations to reach Redis', 15_000)
      const later = await committed(`INSERT INTO "Tag" ("name") VALUES ('later')`)
      await until(async () => ((await positions())?.confirmed ?? 0n) >= later, 'both writes to be confirmed', 15_000)
    } finally {
      await client.$disconnect()
    }
  })
})

/** A PostgreSQL WAL position (`16/B374D848`) as a number; 0 for none. */
function fromLsn(text: string | null): bigint {
  if (text === null) return 0n
  const [high = '0', low = '0'] = text.split('/')
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`)
}

describe('what the stream cannot follow is said, not hidden', () => {
  test('a table without a primary key is left out of the publication, named in stats and a warning', async () => {
    const prefix = suite.prefix('changes-nokey')
    // A table of its own: the warning is given once per process and message, and the list names every such table.
    await query(`CREATE TABLE "Scratch" ("note" TEXT)`)
    const warnings: string[] = []
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code === 'ORMCACHE_CHANGE_STREAM') warnings.push(warning.message)
    }
    process.on('warning', onWarning)
    try {
      const client = suite.app(prefix)
      await until(() => client.$cache.stats().changes?.state === 'streaming', 'the stream', 15_000)
      expect(client.$cache.stats().changes?.unpublishedTables).toEqual(['public.AuditLine', 'public.Scratch'])
      await until(() => warnings.length > 0, 'the warning')
      expect(warnings).toEqual([expect.stringContaining('public.AuditLine, public.Scratch are not followed')])
      // Its UPDATEs still work: publishing it would have made PostgreSQL refuse them.
      await query(`INSERT INTO "Scratch" VALUES ('x')`)
      await expect(query(`UPDATE "Scratch" SET "note" = 'y'`)).resolves.toMatchObject({ rowCount: 1 })
    } finally {
      process.off('warning', onWarning)
      await query(`DROP TABLE "Scratch"`)
    }
  })

  test('a server without wal_level = logical: the stream is down, the reason names the setting, the cache serves', async () => {
    const prefix = suite.prefix('changes-replica')
    const events: { state: string; error?: Error }[] = []
    const onChanges = (message: unknown) => events.push(message as { state: string; error?: Error })
    subscribe('ormcache:changes', onChanges)
    const cache = createCache({
      redis: await redisUrl(),
      prefix,
      timeout: TEST_REDIS_TIMEOUT,
      changes: await postgresUrl(),
    })
    try {
      await until(() => cache.stats().changes?.state === 'down', 'the stream to be reported down', 15_000)
      expect(cache.stats().changes?.error).toMatch(/wal_level is 'replica'.*wal_level = logical/)
      expect(events.at(-1)).toMatchObject({ state: 'down', error: { code: 'E_CHANGE_STREAM' } })
      expect(await cache.getOrLoad('k', ['t'], async () => 'served')).toBe('served')
    } finally {
      unsubscribe('ormcache:changes', onChanges)
      await cache.close()
    }
  })
})
