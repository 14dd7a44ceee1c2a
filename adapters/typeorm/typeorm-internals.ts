/**
 * Everything this adapter relies on in TypeORM that TypeORM does not document
 * as API: protected members, methods it replaces on instances, the shape of
 * drivers' results, and the way `SelectQueryBuilder` talks to a query-result
 * cache. Each function says what it relies on and why; the test
 * `test/adapters/typeorm/typeorm-internals.test.ts` pins each one on the
 * installed TypeORM, so an upgrade that moves one fails there loudly instead
 * of caching wrongly.
 */
import type { DataSource, EntityManager, QueryRunner, ReplicationMode } from 'typeorm'
// Not re-exported from TypeORM's index; the subpaths are in its `exports` map.
import type { QueryResultCache } from 'typeorm/cache/QueryResultCache.js'

export type { QueryResultCacheOptions } from 'typeorm/cache/QueryResultCacheOptions.js'
export type { QueryResultCache }

/** DataSource members the adapter replaces on the instance; `buildMetadatas` is protected in TypeORM's typings. */
interface DataSourceInternals {
  createQueryRunner(mode?: ReplicationMode): QueryRunner
  createEntityManager(queryRunner?: QueryRunner): EntityManager
  buildMetadatas(): Promise<void>
}

/**
 * Passes every query runner made for the DataSource through `wrap`. Relies on
 * TypeORM making every runner it uses for a DataSource's work (find methods,
 * QueryBuilder, `transaction`, `query`, migrations, synchronize) through the
 * instance's `createQueryRunner`, so replacing it there sees them all. Only the
 * drivers' own setup queries at connect (which write no table) bypass it.
 */
export function wrapQueryRunners(dataSource: DataSource, wrap: (runner: QueryRunner) => QueryRunner): void {
  const internals = dataSource as unknown as DataSourceInternals
  const createQueryRunner = internals.createQueryRunner.bind(dataSource)
  internals.createQueryRunner = (mode) => wrap(createQueryRunner(mode))
}

/**
 * Passes every EntityManager of the DataSource through `wrap`: its
 * `dataSource.manager`, and those made later. Relies on the DataSource
 * constructor making `manager` before it calls `cache.provider` (so it is
 * there to wrap, and no other is made), and on `createQueryRunner` making each
 * runner's manager through the instance's `createEntityManager`.
 */
export function wrapEntityManagers(dataSource: DataSource, wrap: (manager: EntityManager) => EntityManager): void {
  const internals = dataSource as unknown as DataSourceInternals
  const createEntityManager = internals.createEntityManager.bind(dataSource)
  internals.createEntityManager = (queryRunner) => wrap(createEntityManager(queryRunner))
  wrap(dataSource.manager)
}

/**
 * Runs `built` each time the DataSource has built its entity metadata. Relies
 * on `initialize()` calling the protected `buildMetadatas()` after the
 * query-result cache connected and before `synchronize`/migrations run, and on
 * destroying the DataSource and rethrowing when it throws (so `built` may
 * refuse the metadata).
 */
export function afterMetadataBuilt(dataSource: DataSource, built: () => void): void {
  const internals = dataSource as unknown as DataSourceInternals
  const buildMetadatas = internals.buildMetadatas.bind(dataSource)
  internals.buildMetadatas = async () => {
    await buildMetadatas()
    built()
  }
}

/** The query runner methods the adapter replaces; `query`'s third argument is `useStructuredResult`. */
export interface RunnerMethods {
  query(sql: string, parameters?: unknown[], useStructuredResult?: boolean): Promise<unknown>
  commitTransaction(): Promise<void>
  rollbackTransaction(): Promise<void>
  release(): Promise<void>
}

/**
 * Replaces the runner's `query`, `commitTransaction`, `rollbackTransaction`
 * and `release` on the instance with what `replace` makes of its own (bound)
 * methods. Relies on TypeORM's own code calling them through the instance:
 * `startTransaction`/`commitTransaction` send their SQL with `this.query`, and
 * query builders, managers and `transaction()` call the runner's methods, so
 * every statement and transaction end passes through the replacements.
 * Better-sqlite3 and the other single-connection drivers hand out one runner
 * for every `createQueryRunner()`: callers must replace a runner only once.
 */
export function replaceRunnerMethods(runner: QueryRunner, replace: (own: RunnerMethods) => RunnerMethods): void {
  const own: RunnerMethods = {
    query: runner.query.bind(runner) as RunnerMethods['query'],
    commitTransaction: runner.commitTransaction.bind(runner),
    rollbackTransaction: runner.rollbackTransaction.bind(runner),
    release: runner.release.bind(runner) as RunnerMethods['release'],
  }
  Object.assign(runner, replace(own))
}

/**
 * Whether TypeORM considers a transaction open on the runner. Relies on every
 * driver setting it before it sends START TRANSACTION (so reads racing the
 * BEGIN count as inside), keeping it through nested savepoints, and clearing it
 * once the outermost COMMIT or ROLLBACK is done, also for drivers that end a
 * transaction through their client's API rather than with SQL.
 */
export function isTransactionActive(runner: QueryRunner): boolean {
  return runner.isTransactionActive
}

/**
 * The id `SelectQueryBuilder.loadRawResults` gives a query when it asks the
 * query-result cache (`QueryResultCacheOptions.query`); must match it character
 * for character, since the runner finds the provider's mark by it.
 */
export function queryIdOf(sql: string, parameters: readonly unknown[] | undefined): string {
  return `${sql} -- PARAMETERS: ${JSON.stringify(parameters, (_, value) => (typeof value === 'bigint' ? value.toString() : value))}`
}

const DERIVED_CACHE_ID = /^(.+)-(?:count|pagination)$/

/**
 * The cache id a query builder derived `identifier` from: TypeORM caches the
 * count query of `getManyAndCount` under `<id>-count` and the id query of a
 * paginated join under `<id>-pagination`, so a read of `<id>` has hidden reads
 * under those ids.
 */
export function derivedCacheIdBase(identifier: string): string | undefined {
  return DERIVED_CACHE_ID.exec(identifier)?.[1]
}

/**
 * Makes TypeORM's `JSON.stringify` of the rows cheap. Relies on
 * `loadRawResults` handing the query-result cache `JSON.stringify(records)` of
 * the very array the runner returned, through `storeInCache`, right after the
 * query resolves: ormcache's provider ignores that JSON, which for a page of
 * joined rows is a sizeable share of a hit. The rows get a `toJSON` that makes
 * that one call cheap and removes itself, so the rows the app gets serialize
 * as usual; should a TypeORM version not make that call, the next turn of the
 * event loop removes it anyway, before any I/O the app could do.
 */
export function skipStoreInCacheStringify(records: unknown[]): void {
  const remove = () => {
    delete (records as { toJSON?: unknown }).toJSON
  }
  Object.defineProperty(records, 'toJSON', {
    configurable: true,
    enumerable: false,
    value: () => {
      remove()
      return null
    },
  })
  setImmediate(remove)
}

/**
 * The rows a write returned (PostgreSQL's `RETURNING`), from what the runner's
 * `query` gave: the `records` of a structured result, or the rows themselves
 * when the caller did not ask for structure. Relies on the PostgreSQL runner
 * returning its driver's rows so.
 */
export function returnedRows(result: unknown): unknown[] | undefined {
  if (Array.isArray(result)) return result
  if (result === null || typeof result !== 'object') return undefined
  const records = (result as { records?: unknown }).records
  return Array.isArray(records) ? records : undefined
}

/**
 * Keys of the rows an INSERT left a single auto-increment key to the
 * database for, from the id its driver reported: SQLite's `lastInsertRowid`
 * (the last row's; the rowid is an INTEGER PRIMARY KEY's value) is the runner's
 * result, or its `raw` with the changed row count in `affected`; MySQL's and
 * MariaDB's `insertId` (the first row's) is on the result header, with
 * `affectedRows`. `rowCount` is the number of rows the statement lists, when
 * it lists them. Rows an `OR IGNORE` skipped leave gaps inside the range, never
 * outside it.
 */
export function autoIncrementedKeys(result: unknown, rowCount: number | undefined): string[][] | undefined {
  if (result === null || result === undefined) return undefined
  const header = typeof result === 'object' && 'raw' in result ? (result as { raw: unknown }).raw : result
  if (typeof header === 'number' || typeof header === 'bigint') {
    const affected = typeof result === 'object' ? (result as { affected?: unknown }).affected : undefined
    return consecutive(BigInt(header), rowCount ?? affected, 'last')
  }
  const mysql = header as { insertId?: unknown; affectedRows?: unknown } | null | undefined
  const first = mysql?.insertId
  if (typeof first !== 'number') return undefined
  return consecutive(BigInt(first), rowCount ?? mysql?.affectedRows, 'first')
}

function consecutive(id: bigint, count: unknown, which: 'first' | 'last'): string[][] | undefined {
  if (id <= 0n || typeof count !== 'number' || !Number.isSafeInteger(count) || count <= 0) return undefined
  const first = which === 'first' ? id : id - BigInt(count) + 1n
  if (first <= 0n) return undefined
  return Array.from({ length: count }, (_, index) => [(first + BigInt(index)).toString()])
}

// The EntityManager methods that load the current rows before writing (to diff them against the entities given).
const PERSIST_METHODS = ['save', 'remove', 'softRemove', 'recover'] as const

/**
 * Runs the manager's `save`, `remove`, `softRemove` and `recover` inside
 * `around`, replacing them on the instance. Relies on repositories calling
 * them through their manager (`this.manager.save(target, …)`), and on those
 * methods loading the current rows within the call, so the async context
 * `around` opens covers the loads.
 */
export function wrapPersistMethods(manager: EntityManager, around: <T>(call: () => T) => T): void {
  const methods = manager as unknown as Record<(typeof PERSIST_METHODS)[number], (...args: unknown[]) => unknown>
  for (const name of PERSIST_METHODS) {
    const own = methods[name].bind(manager)
    methods[name] = (...args: unknown[]) => around(() => own(...args))
  }
}

/**
 * The `cache` DataSource option that makes `provider` TypeORM's query-result
 * cache. Relies on `SelectQueryBuilder.loadRawResults` asking the cache for
 * every read not marked `cache: false` when `alwaysEnabled`, and only for reads
 * marked `cache: true` (or given an id or milliseconds) otherwise; and on it
 * passing `QueryResultCacheOptions.duration` as the query's own milliseconds
 * `|| cache.duration`: with `duration: 0`, a 0 there means the query set none.
 */
export function queryResultCacheOption(
  provider: (dataSource: DataSource) => QueryResultCache,
  alwaysEnabled: boolean,
): { alwaysEnabled: boolean; duration: number; provider: (dataSource: DataSource) => QueryResultCache } {
  return { alwaysEnabled, duration: 0, provider }
}
