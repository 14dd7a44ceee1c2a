import { isDeepStrictEqual } from 'node:util'
import type { Duration } from '../../src/duration.js'
import { InvalidOptionError } from '../../src/errors.js'
import { type CacheOptions, resolveOptions } from '../../src/options.js'
import {
  type CachedQueries,
  checkScopedNames,
  resolveCachedQueries,
  resolveScopedSettings,
  type ScopedSetting,
} from '../../src/scoped-settings.js'
import type { BuiltinCacheRequest } from './builtin-cache-option.js'

export interface EntityCacheOptions {
  /** How long this entity's reads are fresh; a query's own `.cache(ms)` still wins. */
  ttl?: Duration
  /** How long after `ttl` they may be served while one caller refreshes them. */
  swr?: Duration
}

export interface TypeormCacheOptions extends CacheOptions {
  /**
   * Per entity, by its name (the class name, or an `EntitySchema`'s `name`):
   * `false` never caches reads touching it, `{ ttl, swr }` tunes them. Writes
   * to every entity invalidate either way.
   * @example { AuditLog: false, Country: { ttl: '1h' } }
   */
  entities?: Readonly<Record<string, false | EntityCacheOptions>>
  /**
   * `'all'` caches every read TypeORM's query-result cache sees unless the query
   * says `cache: false`; `'explicit'` only those that ask (`cache: true`,
   * `.cache(ms)`, `.cache(id, ms)`). Writes invalidate either way.
   * @default 'all'
   */
  queries?: CachedQueries
}

/** An entity's setting after validation: `false` (not cached) or its durations in ms. */
export type EntitySetting = ScopedSetting

export interface ResolvedTypeormOptions {
  readonly cache: CacheOptions
  readonly entities: ReadonlyMap<string, EntitySetting>
  readonly queries: CachedQueries
}

/**
 * Validates everything that does not need the entity metadata (entity names
 * are checked at `initialize()`), and merges in what the DataSource's own
 * `cache` option asked for: withCache's options fill what it left unsaid, and
 * the two may not disagree, except that withCache's `ttl` wins over `duration`.
 */
export function resolveTypeormOptions(
  options: TypeormCacheOptions | undefined = {},
  builtin: BuiltinCacheRequest = {},
): ResolvedTypeormOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('options', 'an object', options)
  }
  const { entities, queries, ...own } = options
  const cache: CacheOptions = { ...own }
  // TypeORM counts its `duration` in milliseconds.
  if (cache.ttl === undefined && builtin.ttl !== undefined) cache.ttl = `${builtin.ttl}ms`
  if (builtin.redis !== undefined) {
    if (cache.redis === undefined) cache.redis = builtin.redis.connection
    else if (builtin.redis.explicit && !isDeepStrictEqual(cache.redis, builtin.redis.connection)) {
      throw new InvalidOptionError(
        'redis',
        'absent, or the same connection as `dataSourceOptions.cache.options` (remove one of the two)',
        // A URL may hold a password.
        typeof cache.redis === 'string' ? 'another URL' : cache.redis,
      )
    }
  }
  // The engine validates its own options; constructing it here would open a Redis connection.
  resolveOptions(cache, ['entities', 'queries'])
  resolveCachedQueries(queries, 'queries')
  if (queries !== undefined && builtin.queries !== undefined && queries !== builtin.queries) {
    throw new InvalidOptionError(
      'queries',
      `'${builtin.queries}' or absent, as \`dataSourceOptions.cache.alwaysEnabled\` is ${builtin.queries === 'all'} (remove one of the two)`,
      queries,
    )
  }
  return {
    cache,
    entities: resolveScopedSettings(entities, 'entities', 'entity name'),
    queries: queries ?? builtin.queries ?? 'all',
  }
}

/** Fails when `entities` names an entity the DataSource does not have. */
export function checkEntityNames(entities: ReadonlyMap<string, EntitySetting>, known: readonly string[]): void {
  checkScopedNames(entities, 'entities', known, 'an entity of this DataSource')
}
