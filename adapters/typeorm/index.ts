import type { DataSource, DataSourceOptions } from 'typeorm'
import type { InvalidateOptions } from '../../src/cache.js'
import { InvalidOptionError } from '../../src/errors.js'
import type { CacheStats } from '../../src/stats.js'
import { invalidationTags } from '../../src/table-tags.js'
import { TypeormCacheAdapter } from './adapter.js'
import { readBuiltinCacheOption } from './builtin-cache-option.js'
import { resolveTypeormOptions, type TypeormCacheOptions } from './options.js'
import { queryResultCacheOption } from './typeorm-internals.js'

export type { CachedQueries } from '../../src/scoped-settings.js'
export type { EntityCacheOptions, TypeormCacheOptions } from './options.js'

/** `cacheOf(dataSource)`: the cache behind a DataSource made with `withCache`. */
export interface TypeormCacheHandle {
  /**
   * Makes every cached read carrying one of `tags` a miss, here and in every
   * instance sharing the Redis. A tag is an entity name (`'User'`) or table
   * name (`'user'`): every read of that table; otherwise a cache id given to
   * `.cache(id, ms)` or `find({ cache: { id, milliseconds } })`. `tables` names
   * tables as the database does: their reads through either adapter.
   */
  invalidate(options: InvalidateOptions): Promise<void>
  /** Makes every cached read a miss: every entry under this DataSource's `prefix`, here and in every instance. */
  invalidateAll(): Promise<void>
  stats(): CacheStats
}

const adapters = new WeakMap<DataSource, TypeormCacheAdapter>()

/**
 * Adds ormcache to DataSource options, keeping every option given:
 *
 * ```ts
 * const dataSource = new DataSource(withCache({ type: 'postgres', url, entities }, { redis: process.env.REDIS_URL }))
 * ```
 *
 * Reads through find methods and QueryBuilder are cached (unless the query
 * says `cache: false`); every write through the DataSource invalidates what
 * it could change, after COMMIT inside transactions. `dataSource.destroy()`
 * closes the cache's Redis connections. Options are validated here.
 */
export function withCache<Options extends DataSourceOptions>(
  options: Options,
  cacheOptions?: TypeormCacheOptions,
): Options {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('dataSourceOptions', 'TypeORM DataSource options', options)
  }
  if (options.type === 'mongodb') {
    throw new InvalidOptionError('dataSourceOptions.type', 'a SQL database type (ormcache reads SQL)', options.type)
  }
  const settings = resolveTypeormOptions(cacheOptions, readBuiltinCacheOption(options.cache))
  return {
    ...options,
    cache: queryResultCacheOption((dataSource) => {
      const adapter = new TypeormCacheAdapter(dataSource, settings)
      adapters.set(dataSource, adapter)
      return adapter.provider
    }, settings.queries === 'all'),
  }
}

/** The cache of a DataSource made with `withCache`. */
export function cacheOf(dataSource: DataSource): TypeormCacheHandle {
  const adapter = adapters.get(dataSource)
  if (adapter === undefined) {
    throw new InvalidOptionError('dataSource', 'a DataSource whose options went through withCache()', dataSource)
  }
  return {
    invalidate: async (options) => {
      await adapter.invalidate(invalidationTags(options, (tags) => adapter.tagsFor(tags)))
    },
    invalidateAll: () => adapter.invalidate('all'),
    stats: () => adapter.stats(),
  }
}
