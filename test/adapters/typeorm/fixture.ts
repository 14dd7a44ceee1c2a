// A private PostgreSQL schema, MariaDB database or SQLite file with the test
// tables, DataSources on it that count the statements they send, and cached
// DataSources on a private Redis prefix. Everything made here is released by the
// hooks it registers.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { DataSource, type DataSourceOptions, type Logger } from 'typeorm'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import { cacheOf, type TypeormCacheOptions, withCache } from '../../../adapters/typeorm/index.js'
import { TEST_REDIS_TIMEOUT } from '../../fixtures/redis-cache.js'
import { until } from '../../fixtures/wait.js'
import { createMysqlDatabase, createPgSchema } from '../../helpers/databases.js'
import { countEntries, deleteKeysWithPrefix, uniquePrefix } from '../../helpers/prefix.js'
import { postgresUrl, redisUrl } from '../../helpers/services.js'
import { entitySchemas, Post, Profile, TABLES, Tag, type TypeormDatabase, User } from './entities.js'

const TRANSACTION_CONTROL = /^\s*(BEGIN|START|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/i

/** Counts the statements a DataSource sends to the database (not BEGIN, COMMIT…). */
export class QueryCounter implements Logger {
  count = 0
  readonly statements: string[] = []

  logQuery(query: string): void {
    if (TRANSACTION_CONTROL.test(query)) return
    this.count++
    this.statements.push(query)
  }

  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  /** Statements sent while `action` ran. */
  async during(action: () => Promise<unknown>): Promise<number> {
    const before = this.count
    await action()
    return this.count - before
  }
}

export interface TestDataSource {
  readonly dataSource: DataSource
  readonly queries: QueryCounter
}

/** A private PostgreSQL schema, MariaDB database or SQLite file, and DataSource options on it. */
interface Place {
  readonly name: string
  drop(): Promise<void>
  options(queries: QueryCounter): DataSourceOptions
  /** Empties every test table; the statements run on one connection. */
  readonly emptyTables: string[]
  /** A test table's name as raw SQL must write it. */
  table(name: string): string
}

async function createPlace(label: string, database: TypeormDatabase): Promise<Place> {
  const entities = entitySchemas(database)
  if (database === 'postgres') {
    const { schema, drop } = await createPgSchema(label)
    const url = await postgresUrl()
    const table = (name: string) => `"${schema}"."${name}"`
    return {
      name: schema,
      drop,
      options: (queries) => ({ type: 'postgres', url, schema, entities, logger: queries }),
      emptyTables: [`TRUNCATE ${TABLES.map(table).join(', ')} RESTART IDENTITY CASCADE`],
      table,
    }
  }
  if (database === 'sqlite') {
    const directory = mkdtempSync(join(tmpdir(), 'ormcache-typeorm-sqlite-'))
    const file = join(directory, 'test.db')
    return {
      name: file,
      drop: async () => rmSync(directory, { recursive: true, force: true }),
      options: (queries) => ({ type: 'better-sqlite3', database: file, entities, logger: queries }),
      // Children first: TypeORM turns foreign keys on. AUTOINCREMENT keys restart from sqlite_sequence.
      emptyTables: [...TABLES.map((table) => `DELETE FROM "${table}"`), 'DELETE FROM sqlite_sequence'],
      table: (name) => `"${name}"`,
    }
  }
  const { database: name, url, drop } = await createMysqlDatabase(label)
  return {
    name,
    drop,
    options: (queries) => ({ type: 'mariadb', url, entities, logger: queries }),
    emptyTables: [
      'SET FOREIGN_KEY_CHECKS = 0',
      ...TABLES.map((table) => `TRUNCATE TABLE \`${table}\``),
      'SET FOREIGN_KEY_CHECKS = 1',
    ],
    table: (table) => `\`${table}\``,
  }
}

/**
 * Call at file level. Creates the schema (PostgreSQL), database (MariaDB) or
 * file (SQLite) and its tables once for the file (with `synchronize`, inside
 * that private place only), empties them before each test, and gives each test
 * its own Redis prefix.
 */
export function useTypeormFixture(label: string, database: TypeormDatabase = 'postgres') {
  let place: Place | undefined
  let admin: Redis | undefined
  let plain: TestDataSource | undefined
  let redis = ''
  let prefix = ''
  const opened: DataSource[] = []

  const options = (queries: QueryCounter) => place!.options(queries)

  const open = async (
    cache: DataSourceOptions['cache'],
    cacheOptions: TypeormCacheOptions,
  ): Promise<TestDataSource> => {
    const queries = new QueryCounter()
    const base = cache === undefined ? options(queries) : { ...options(queries), cache }
    const dataSource = new DataSource(withCache(base, cacheOptions))
    opened.push(dataSource)
    await dataSource.initialize()
    await until(() => {
      const stats = cacheOf(dataSource).stats()
      return stats.redis === 'up' && stats.bus === 'live'
    }, 'the cache connected to Redis')
    return { dataSource, queries }
  }

  beforeAll(async () => {
    place = await createPlace(label, database)
    redis = await redisUrl()
    admin = new Redis(redis)
    const queries = new QueryCounter()
    const dataSource = new DataSource({ ...options(queries), synchronize: true })
    await dataSource.initialize()
    plain = { dataSource, queries }
  })

  beforeEach(async () => {
    prefix = uniquePrefix(label)
    const runner = plain!.dataSource.createQueryRunner()
    try {
      for (const statement of place!.emptyTables) await runner.query(statement)
    } finally {
      await runner.release()
    }
  })

  afterEach(async () => {
    await Promise.all(
      opened.splice(0).map((dataSource) => (dataSource.isInitialized ? dataSource.destroy() : undefined)),
    )
    await deleteKeysWithPrefix(admin!, prefix)
  })

  afterAll(async () => {
    await plain?.dataSource.destroy()
    await admin?.quit()
    await place?.drop()
  })

  return {
    /** The uncached DataSource the tables were made with: for seeding and for reference reads. */
    get plain(): TestDataSource {
      return plain!
    },
    /**
     * A cached DataSource on this test's prefix; several share entries like
     * processes sharing Redis. Resolves once its cache is connected: until its
     * bus subscription is live, the engine does not trust its L1.
     */
    async cached(cacheOptions: TypeormCacheOptions = {}): Promise<TestDataSource> {
      return open(undefined, { redis, prefix, timeout: TEST_REDIS_TIMEOUT, ...cacheOptions })
    },
    /**
     * Like `cached`, with TypeORM's own `cache` DataSource option set to `cache`
     * and no `redis` given to withCache unless `cacheOptions` has one: for how
     * withCache maps the one onto the other. Still resolves only once the cache
     * is connected to Redis.
     */
    async cachedWithTypeormCache(
      cache: DataSourceOptions['cache'],
      cacheOptions: TypeormCacheOptions = {},
    ): Promise<TestDataSource> {
      return open(cache, { prefix, timeout: TEST_REDIS_TIMEOUT, ...cacheOptions })
    },
    /** DataSource options on the private schema, for tests that build their own. */
    options,
    get prefix() {
      return prefix
    },
    get redis() {
      return admin!
    },
    /** The PostgreSQL schema, MariaDB database name or SQLite file path. */
    get schema() {
      return place!.name
    },
    /** Which database the fixture is on. */
    database,
    /** A test table's name as raw SQL on this database must write it (schema-qualified on PostgreSQL). */
    table(name: string): string {
      return place!.table(name)
    },
    get redisUrl() {
      return redis
    },
    /** Entries reach Redis after the read returns; waits until `count` entries of this test are there. */
    async entriesInRedis(count: number): Promise<void> {
      await until(async () => (await countEntries(admin!, `${prefix}:e:*`)) >= count, `${count} entries in Redis`)
    },
  }
}

/** Two users (one with a profile and every column type filled), a tag, and a post of user 1 with that tag. */
export async function seedUsersAndPosts(dataSource: DataSource): Promise<void> {
  const profile = await dataSource.getRepository(Profile).save({ bio: 'hello' })
  const users = dataSource.getRepository(User)
  await users.save({
    email: 'a@x.test',
    name: 'A',
    createdAt: new Date('2024-02-29T23:59:59.123Z'),
    labels: ['red', 'blue'],
    visits: '9007199254740993',
    balance: '12345.67',
    profile,
  })
  await users.save({ email: 'b@x.test', name: 'B', labels: [], visits: '2', balance: '-0.50' })
  const tag = await dataSource.getRepository(Tag).save({ name: 'news' })
  await dataSource.getRepository(Post).save({ title: 'first', user: { id: 1 }, tags: [tag] })
}
