// Pins each TypeORM internal that adapters/typeorm/typeorm-internals.ts relies
// on, on the installed TypeORM and real databases, so an upgrade that moves one
// fails here rather than caching wrongly. DataSources here are uncached: they
// use the internals directly, with recorders where the adapter has its cache.
import { AsyncLocalStorage } from 'node:async_hooks'
import { DataSource, type DataSourceOptions, type Logger, type QueryRunner } from 'typeorm'
import { describe, expect, onTestFinished, test } from 'vitest'
import {
  afterMetadataBuilt,
  autoIncrementedKeys,
  derivedCacheIdBase,
  isTransactionActive,
  type QueryResultCache,
  type QueryResultCacheOptions,
  queryIdOf,
  queryResultCacheOption,
  replaceRunnerMethods,
  returnedRows,
  skipStoreInCacheStringify,
  wrapEntityManagers,
  wrapPersistMethods,
  wrapQueryRunners,
} from '../../../adapters/typeorm/typeorm-internals.js'
import { Tag, type TypeormDatabase, User } from './entities.js'
import { QueryCounter, seedUsersAndPosts, useTypeormFixture } from './fixture.js'

/** One statement as a wrapped runner's `query` saw it, with what it returned. */
interface Sent {
  readonly runner: QueryRunner
  readonly sql: string
  readonly parameters: unknown[] | undefined
  readonly structured: boolean | undefined
  /** Whether TypeORM considered a transaction open when the statement was sent. */
  readonly inTransaction: boolean
  result?: unknown
}

/** Records every statement and transaction end of the runners it instruments; each runner is instrumented once. */
class RunnerRecorder {
  readonly sent: Sent[] = []
  readonly calls: string[] = []
  readonly #instrumented = new WeakSet<QueryRunner>()
  /** Applied to the rows of every structured result, as the adapter does to rows it served. */
  onRecords: ((records: unknown[]) => void) | undefined

  instrument = (runner: QueryRunner): QueryRunner => {
    if (this.#instrumented.has(runner)) return runner
    this.#instrumented.add(runner)
    replaceRunnerMethods(runner, (own) => ({
      query: async (sql, parameters, structured) => {
        const sent: Sent = { runner, sql, parameters, structured, inTransaction: isTransactionActive(runner) }
        this.sent.push(sent)
        sent.result = await own.query(sql, parameters, structured)
        const records = (sent.result as { records?: unknown } | undefined)?.records
        if (structured && Array.isArray(records)) this.onRecords?.(records)
        return sent.result
      },
      commitTransaction: () => this.#call('commitTransaction', own.commitTransaction),
      rollbackTransaction: () => this.#call('rollbackTransaction', own.rollbackTransaction),
      release: () => this.#call('release', own.release),
    }))
    return runner
  }

  async #call(name: string, method: () => Promise<void>): Promise<void> {
    this.calls.push(name)
    await method()
  }
}

/** What TypeORM asked of its query-result cache. */
class RecordingCache implements QueryResultCache {
  readonly asked: { options: QueryResultCacheOptions; runner: QueryRunner | undefined }[] = []
  readonly stored: QueryResultCacheOptions[] = []
  readonly events: string[] = []

  async connect(): Promise<void> {
    this.events.push('connect')
  }
  async disconnect(): Promise<void> {
    this.events.push('disconnect')
  }
  async synchronize(): Promise<void> {}
  async getFromCache(options: QueryResultCacheOptions, runner?: QueryRunner): Promise<undefined> {
    this.asked.push({ options, runner })
    return undefined
  }
  async storeInCache(options: QueryResultCacheOptions): Promise<void> {
    this.stored.push(options)
  }
  isExpired(): boolean {
    return true
  }
  async clear(): Promise<void> {}
  async remove(): Promise<void> {}
}

/** Logs every statement, with whether `scope` was active when it was sent. */
class StatementLogger implements Logger {
  readonly statements: { sql: string; inScope: boolean }[] = []
  constructor(readonly scope = new AsyncLocalStorage<true>()) {}
  logQuery(sql: string): void {
    this.statements.push({ sql, inScope: this.scope.getStore() === true })
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

const TRANSACTION_STARTS: Record<TypeormDatabase, string> = {
  postgres: 'START TRANSACTION',
  mariadb: 'START TRANSACTION',
  sqlite: 'BEGIN TRANSACTION',
}

for (const database of ['sqlite', 'postgres', 'mariadb'] as const) {
  describe(`TypeORM internals on ${database}`, () => {
    const fixture = useTypeormFixture(`typeorm-internals-${database}`, database)

    /** An uncached DataSource on the fixture's tables, destroyed when the test ends; `prepare` runs before initialize(). */
    async function open(
      extra: Partial<DataSourceOptions> = {},
      prepare: (dataSource: DataSource) => void = () => {},
    ): Promise<DataSource> {
      const dataSource = new DataSource({
        ...fixture.options(new QueryCounter()),
        ...extra,
      } as DataSourceOptions)
      prepare(dataSource)
      await dataSource.initialize()
      onTestFinished(async () => {
        if (dataSource.isInitialized) await dataSource.destroy()
      })
      return dataSource
    }

    test('wrapQueryRunners and wrapEntityManagers see every runner and manager TypeORM uses', async () => {
      await seedUsersAndPosts(fixture.plain.dataSource)
      const recorder = new RunnerRecorder()
      const managers = new WeakSet<object>()
      const logger = new StatementLogger()
      const dataSource = await open({ logger }, (source) => {
        wrapQueryRunners(source, recorder.instrument)
        wrapEntityManagers(source, (manager) => {
          managers.add(manager)
          return manager
        })
      })
      // The manager the constructor made was there to wrap.
      expect(managers.has(dataSource.manager)).toBe(true)
      // Drivers' setup queries at initialize() use runners of their own.
      logger.statements.length = 0
      recorder.sent.length = 0
      const users = dataSource.getRepository(User)
      await users.find({ relations: { posts: { tags: true } } })
      await users.createQueryBuilder('u').where('u.id = :id', { id: 1 }).getOne()
      await users.createQueryBuilder('u').getManyAndCount()
      await dataSource.query(`SELECT 1 AS one`)
      await users.update({ id: 1 }, { name: 'A2' })
      await users.save({ id: 2, email: 'b@x.test', name: 'B2' })
      await dataSource.transaction(async (manager) => {
        expect(managers.has(manager)).toBe(true)
        await manager.getRepository(Tag).insert({ name: 'inside' })
      })
      const runner = dataSource.createQueryRunner()
      expect(managers.has(runner.manager)).toBe(true)
      await runner.manager.getRepository(Tag).find()
      await runner.release()

      // Every statement TypeORM sent, BEGIN and COMMIT included, went through a wrapped runner.
      expect(recorder.sent.map((sent) => sent.sql)).toStrictEqual(logger.statements.map((statement) => statement.sql))
      expect(recorder.calls).toContain('commitTransaction')
      expect(recorder.calls).toContain('release')
    })

    test('single-connection drivers hand out one runner; pooled ones a runner per call', async () => {
      const dataSource = await open()
      const [first, second] = [dataSource.createQueryRunner(), dataSource.createQueryRunner()]
      expect(first === second).toBe(database === 'sqlite')
      await first.release()
      if (second !== first) await second.release()
    })

    test('afterMetadataBuilt runs once the metadata is built, after the query-result cache connected; a throw fails initialize()', async () => {
      const cache = new RecordingCache()
      const seen: string[] = []
      await open({ cache: { provider: () => cache } }, (source) => {
        afterMetadataBuilt(source, () => {
          seen.push(`built ${source.entityMetadatas.length > 0} after ${cache.events.join(',')}`)
        })
      })
      expect(seen).toStrictEqual(['built true after connect'])

      const failing = new DataSource(fixture.options(new QueryCounter()))
      afterMetadataBuilt(failing, () => {
        throw new Error('refused')
      })
      await expect(failing.initialize()).rejects.toThrow('refused')
      expect(failing.isInitialized).toBe(false)
    })

    test('the cache provider is made in the constructor after dataSource.manager, connected by initialize(), disconnected by destroy()', async () => {
      const cache = new RecordingCache()
      let managerMade = false
      const dataSource = await open({
        cache: queryResultCacheOption((source) => {
          managerMade = source.manager !== undefined
          return cache
        }, true),
      })
      expect(managerMade).toBe(true)
      expect(dataSource.queryResultCache).toBe(cache)
      await dataSource.destroy()
      expect(cache.events).toStrictEqual(['connect', 'disconnect'])
    })

    test('replaceRunnerMethods and isTransactionActive: transaction SQL goes through the runner’s own query, the flag brackets it', async () => {
      const recorder = new RunnerRecorder()
      const dataSource = await open({}, (source) => wrapQueryRunners(source, recorder.instrument))
      const runner = dataSource.createQueryRunner()
      const sent = () => recorder.sent.map(({ sql, inTransaction }) => [sql, inTransaction])
      try {
        expect(isTransactionActive(runner)).toBe(false)
        await runner.startTransaction()
        await runner.startTransaction()
        await runner.commitTransaction()
        expect(isTransactionActive(runner)).toBe(true)
        await runner.commitTransaction()
        expect(isTransactionActive(runner)).toBe(false)
        await runner.startTransaction()
        await runner.rollbackTransaction()
        expect(isTransactionActive(runner)).toBe(false)
      } finally {
        await runner.release()
      }
      // Set before START TRANSACTION goes out; cleared only after the outermost COMMIT / ROLLBACK returned.
      expect(sent()).toStrictEqual([
        [TRANSACTION_STARTS[database], true],
        ['SAVEPOINT typeorm_1', true],
        ['RELEASE SAVEPOINT typeorm_1', true],
        ['COMMIT', true],
        [TRANSACTION_STARTS[database], true],
        ['ROLLBACK', true],
      ])
      expect(recorder.calls).toStrictEqual(['commitTransaction', 'commitTransaction', 'rollbackTransaction', 'release'])
    })

    test('loadRawResults asks the cache with queryIdOf’s id, the query’s duration or 0, then runs the SQL structured on the same runner', async () => {
      await seedUsersAndPosts(fixture.plain.dataSource)
      const cache = new RecordingCache()
      const recorder = new RunnerRecorder()
      const dataSource = await open({ cache: queryResultCacheOption(() => cache, true) }, (source) =>
        wrapQueryRunners(source, recorder.instrument),
      )
      const users = dataSource.getRepository(User)
      const reads: [() => Promise<unknown>, string | undefined, number][] = [
        [() => users.find({ where: { name: 'A' }, loadEagerRelations: false }), undefined, 0],
        [
          () =>
            users
              .createQueryBuilder('u')
              .where('u.id IN (:...ids)', { ids: [1, 2] })
              .cache(5_000)
              .getMany(),
          undefined,
          5_000,
        ],
        [() => users.createQueryBuilder('u').cache('named', 7_000).getMany(), 'named', 7_000],
      ]
      for (const [read, identifier, duration] of reads) {
        cache.asked.length = 0
        recorder.sent.length = 0
        await read()
        expect(cache.asked).toHaveLength(1)
        const [{ options, runner }] = cache.asked as [(typeof cache.asked)[number]]
        const [statement] = recorder.sent
        expect(statement).toBeDefined()
        expect(options).toStrictEqual({ identifier, query: queryIdOf(statement!.sql, statement!.parameters), duration })
        expect(runner).toBe(statement!.runner)
        expect(statement!.structured).toBe(true)
      }
      cache.asked.length = 0
      await users.find({ cache: false })
      expect(cache.asked).toHaveLength(0)
    })

    test('without alwaysEnabled only reads that ask reach the cache', async () => {
      const cache = new RecordingCache()
      const dataSource = await open({ cache: queryResultCacheOption(() => cache, false) })
      const users = dataSource.getRepository(User)
      await users.find({ loadEagerRelations: false })
      await users.createQueryBuilder('u').getMany()
      expect(cache.asked).toHaveLength(0)
      await users.find({ loadEagerRelations: false, cache: true })
      await users.createQueryBuilder('u').cache(1_000).getMany()
      expect(cache.asked).toHaveLength(2)
    })

    test('hidden reads carry derived cache ids: <id>-count and <id>-pagination', async () => {
      await seedUsersAndPosts(fixture.plain.dataSource)
      const cache = new RecordingCache()
      const dataSource = await open({ cache: queryResultCacheOption(() => cache, true) })
      const users = dataSource.getRepository(User)
      // The count query runs only when the page is full: one of two users.
      await users.createQueryBuilder('u').orderBy('u.id').take(1).cache('page', 1_000).getManyAndCount()
      await users.createQueryBuilder('u').leftJoinAndSelect('u.posts', 'p').take(1).cache('joined', 1_000).getMany()
      const ids = cache.asked.map(({ options }) => options.identifier)
      expect(ids).toStrictEqual(['page', 'page-count', 'joined-pagination', 'joined'])
      expect(ids.map((id) => id && derivedCacheIdBase(id))).toStrictEqual([undefined, 'page', 'joined', undefined])
    })

    test('storeInCache gets JSON.stringify of the very rows the runner returned: skipStoreInCacheStringify makes it null', async () => {
      await seedUsersAndPosts(fixture.plain.dataSource)
      const cache = new RecordingCache()
      const recorder = new RunnerRecorder()
      const dataSource = await open({ cache: queryResultCacheOption(() => cache, true) }, (source) =>
        wrapQueryRunners(source, recorder.instrument),
      )
      const read = () =>
        dataSource.getRepository(User).createQueryBuilder('u').select(['u.id', 'u.name']).orderBy('u.id').getRawMany()
      const plain = await read()
      expect(cache.stored.map((stored) => stored.result)).toStrictEqual([JSON.stringify(plain)])

      recorder.onRecords = skipStoreInCacheStringify
      const rows = await read()
      expect(cache.stored[1]!.result).toBe('null')
      // The rows the app gets serialize as usual.
      expect(Object.hasOwn(rows, 'toJSON')).toBe(false)
      expect(JSON.stringify(rows)).toBe(JSON.stringify(plain))
    })

    test('what runners return for an INSERT gives its keys: returnedRows, autoIncrementedKeys', async () => {
      const recorder = new RunnerRecorder()
      const dataSource = await open({}, (source) => wrapQueryRunners(source, recorder.instrument))
      const inserts = () => recorder.sent.filter((sent) => /^\s*INSERT/i.test(sent.sql))
      const rowKeys = (result: unknown) => returnedRows(result)?.map((row) => [String((row as { id: unknown }).id)])

      // TypeORM's own INSERT, structured: with RETURNING on PostgreSQL and MariaDB, SQLite's last rowid otherwise.
      const inserted = await dataSource.getRepository(Tag).insert([{ name: 'a' }, { name: 'b' }])
      const expected = inserted.identifiers.map((identifier) => [String(identifier.id)])
      const [builder] = inserts()
      expect(builder!.structured).toBe(true)
      if (database === 'sqlite') {
        expect(autoIncrementedKeys(builder!.result, 2)).toStrictEqual(expected)
        // The changed row count stands in for rows the statement does not list.
        expect(autoIncrementedKeys(builder!.result, undefined)).toStrictEqual(expected)
      } else {
        expect(rowKeys(builder!.result)).toStrictEqual(expected)
      }

      // A raw INSERT through dataSource.query(): the driver's own result, unstructured.
      const table = fixture.table('tag')
      const returning = database === 'postgres' ? ' RETURNING "id"' : ''
      const raw = await dataSource.query(`INSERT INTO ${table} (name) VALUES ('c'), ('d')${returning}`)
      const [, rawInsert] = inserts()
      expect(rawInsert!.result).toBe(raw)
      const tags = await dataSource
        .getRepository(Tag)
        .find({ where: [{ name: 'c' }, { name: 'd' }], order: { id: 'ASC' } })
      const ids = tags.map((tag) => [String(tag.id)])
      if (database === 'postgres') {
        expect(rowKeys(raw)).toStrictEqual(ids)
      } else {
        // SQLite's last rowid, MariaDB's first insertId.
        expect(autoIncrementedKeys(raw, 2)).toStrictEqual(ids)
        if (database === 'mariadb') expect(autoIncrementedKeys(raw, undefined)).toStrictEqual(ids)
      }
    })

    test('wrapPersistMethods: repositories call their manager’s methods, whose loads of current rows run inside the call', async () => {
      await seedUsersAndPosts(fixture.plain.dataSource)
      const scope = new AsyncLocalStorage<true>()
      const logger = new StatementLogger(scope)
      let wrapped = 0
      const dataSource = await open({ logger }, (source) =>
        wrapEntityManagers(source, (manager) => {
          wrapPersistMethods(manager, (call) => {
            wrapped++
            return scope.run(true, call)
          })
          return manager
        }),
      )
      const users = dataSource.getRepository(User)
      logger.statements.length = 0
      const user = await fixture.plain.dataSource.getRepository(User).findOneByOrFail({ id: 2 })
      user.name = 'B2'
      await users.save(user)
      const tag = await dataSource.getRepository(Tag).findOneByOrFail({ name: 'news' })
      await dataSource.getRepository(Tag).remove(tag)
      expect(wrapped).toBe(2)
      const loads = logger.statements.filter(({ sql }) => /^\s*SELECT/i.test(sql))
      // The find of the tag ran outside; save's and remove's loads of the current rows inside.
      expect(loads.filter(({ inScope }) => inScope).length).toBeGreaterThanOrEqual(2)
      expect(loads.filter(({ inScope }) => !inScope)).toHaveLength(1)
    })
  })
}
