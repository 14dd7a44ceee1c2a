import type { Duration } from '../../src/duration.js'
import { InvalidOptionError } from '../../src/errors.js'
import { type CacheOptions, resolveOptions } from '../../src/options.js'
import { checkScopedNames, resolveScopedSettings, type ScopedSetting } from '../../src/scoped-settings.js'

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
   * `.cache(ms)`, `.cache(id, ms)`).
   * @default 'all'
   */
  queries?: 'all' | 'explicit'
}

/** An entity's setting after validation: `false` (not cached) or its durations in ms. */
export type EntitySetting = ScopedSetting

export interface ResolvedTypeormOptions {
  readonly cache: CacheOptions
  readonly entities: ReadonlyMap<string, EntitySetting>
  readonly queries: 'all' | 'explicit'
}

/** Validates everything that does not need the entity metadata; entity names are checked at `initialize()`. */
export function resolveTypeormOptions(options: TypeormCacheOptions | undefined = {}): ResolvedTypeormOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('options', 'an object', options)
  }
  const { entities, queries, ...cache } = options
  // The engine validates its own options; constructing it here would open a Redis connection.
  resolveOptions(cache, ['entities', 'queries'])
  if (queries !== undefined && queries !== 'all' && queries !== 'explicit') {
    throw new InvalidOptionError('queries', "'all' or 'explicit'", queries)
  }
  return { cache, entities: resolveScopedSettings(entities, 'entities', 'entity name'), queries: queries ?? 'all' }
}

/** Fails when `entities` names an entity the DataSource does not have. */
export function checkEntityNames(entities: ReadonlyMap<string, EntitySetting>, known: readonly string[]): void {
  checkScopedNames(entities, 'entities', known, 'an entity of this DataSource')
}
