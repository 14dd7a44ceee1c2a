import { type Duration, parseDuration } from '../../src/duration.js'
import { InvalidOptionError } from '../../src/errors.js'
import { type CacheOptions, resolveOptions } from '../../src/options.js'

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
export type EntitySetting = false | { readonly ttlMs: number | undefined; readonly swrMs: number | undefined }

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
  resolveOptions(cache)
  if (queries !== undefined && queries !== 'all' && queries !== 'explicit') {
    throw new InvalidOptionError('queries', "'all' or 'explicit'", queries)
  }
  return { cache, entities: resolveEntities(entities), queries: queries ?? 'all' }
}

function resolveEntities(entities: TypeormCacheOptions['entities']): Map<string, EntitySetting> {
  const resolved = new Map<string, EntitySetting>()
  if (entities === undefined) return resolved
  if (!isPlainObject(entities)) throw new InvalidOptionError('entities', 'an object keyed by entity name', entities)
  for (const [entity, setting] of Object.entries(entities)) {
    const option = `entities.${entity}`
    if (setting === false) {
      resolved.set(entity, false)
      continue
    }
    if (!isPlainObject(setting)) throw new InvalidOptionError(option, 'false or { ttl, swr }', setting)
    for (const key of Object.keys(setting)) {
      if (key !== 'ttl' && key !== 'swr')
        throw new InvalidOptionError(`${option}.${key}`, 'absent: use ttl or swr', key)
    }
    resolved.set(entity, {
      ttlMs: setting.ttl === undefined ? undefined : parseDuration(setting.ttl, `${option}.ttl`, 1),
      swrMs: setting.swr === undefined ? undefined : parseDuration(setting.swr, `${option}.swr`),
    })
  }
  return resolved
}

/** Fails when `entities` names an entity the DataSource does not have: a typo would silently cache what was meant not to be. */
export function checkEntityNames(entities: ReadonlyMap<string, EntitySetting>, known: readonly string[]): void {
  for (const entity of entities.keys()) {
    if (!known.includes(entity)) {
      throw new InvalidOptionError(
        `entities.${entity}`,
        `the name of an entity of this DataSource (${known.join(', ')})`,
        entity,
      )
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}
