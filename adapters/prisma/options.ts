import { type Duration, durationFromMs, parseDuration } from '../../src/duration.js'
import { InvalidOptionError } from '../../src/errors.js'
import { type CacheOptions, resolveOptions } from '../../src/options.js'
import {
  type CachedQueries,
  checkScopedNames,
  isPlainObject,
  resolveCachedQueries,
  resolveScopedSettings,
  type ScopedSetting,
} from '../../src/scoped-settings.js'
import { optionalStrings } from '../../src/tag-list.js'

export interface ModelCacheOptions {
  /** How long this model's reads are fresh; a query's own `cache.ttl` still wins. */
  ttl?: Duration
  /** How long after `ttl` they may be served while one caller refreshes them. */
  swr?: Duration
}

export interface PrismaCacheOptions extends CacheOptions {
  /**
   * Per model, by its name in the schema: `false` never caches its reads,
   * `{ ttl, swr }` tunes them. Writes to every model invalidate either way.
   * @example { AuditLog: false, Country: { ttl: '1h' } }
   */
  models?: Readonly<Record<string, false | ModelCacheOptions>>
  /**
   * `'all'` caches every read that does not say `cache: false`; `'explicit'`
   * caches only reads that pass a `cache` option (`cache: true` or
   * `cache: { ttl, swr, tags }`). Writes invalidate either way.
   * @default 'all'
   */
  queries?: CachedQueries
  /**
   * The old name of `queries`; still honoured.
   * @deprecated Use `queries`, the name `withCache` (TypeORM) takes too: `prismaCache({ queries: 'explicit' })`.
   */
  mode?: CachedQueries
}

/** @deprecated Use `CachedQueries`, the type of the `queries` option. */
export type PrismaCacheMode = CachedQueries

/**
 * The per-query `cache` argument of a read: `false` bypasses the cache, `true`
 * caches with the defaults (what `queries: 'explicit'` needs), an object tunes it.
 */
export type QueryCacheOption =
  | boolean
  | {
      /** How long this result is fresh. */
      ttl?: Duration
      /** How long after `ttl` it may be served while one caller refreshes it. */
      swr?: Duration
      /** Extra tags, for `$cache.invalidate({ tags })`. */
      tags?: readonly string[]
    }

/** A model's setting after validation: `false` (not cached) or the durations it sets, in ms. */
export type ModelSetting = ScopedSetting

export interface ResolvedPrismaOptions {
  readonly cache: CacheOptions
  readonly models: ReadonlyMap<string, ModelSetting>
  readonly queries: CachedQueries
}

/** Validates everything it can before a client is known; model names are checked against the client later. */
export function resolvePrismaOptions(options: PrismaCacheOptions = {}): ResolvedPrismaOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', 'an object', options)
  const { models, queries, mode, ...cache } = options
  // The engine validates its own options; constructing it here would open a Redis connection.
  resolveOptions(cache, ['models', 'queries', 'mode'])
  const chosen = resolveCachedQueries(queries, 'queries')
  const deprecated = resolveCachedQueries(mode, 'mode')
  if (chosen !== undefined && deprecated !== undefined && chosen !== deprecated) {
    throw new InvalidOptionError(
      'mode',
      `absent (it is the old name of \`queries\`), or the same as \`queries\` ('${chosen}')`,
      deprecated,
    )
  }
  return {
    cache,
    models: resolveScopedSettings(models, 'models', 'model name'),
    queries: chosen ?? deprecated ?? 'all',
  }
}

/** Fails when `models` names a model the client does not have. */
export function checkModelNames(models: ReadonlyMap<string, ModelSetting>, known: readonly string[]): void {
  checkScopedNames(models, 'models', known, 'a model of this client')
}

const QUERY_OPTIONS = new Set(['ttl', 'swr', 'tags'])

/**
 * Prisma Accelerate's per-query option, taken as it is written for Accelerate so that moving off
 * it is a change of import: `ttl` and `swr` in seconds, as Accelerate counts them.
 */
export interface AccelerateCacheStrategy {
  /** Seconds the result is fresh. */
  readonly ttl?: number
  /** Seconds after `ttl` it may be served while one caller refreshes it. */
  readonly swr?: number
  /** Tags, for `$cache.invalidate({ tags })` (or `$accelerate.invalidate({ tags })`). */
  readonly tags?: readonly string[]
}

export interface QueryCacheSetting {
  readonly bypass: boolean
  readonly ttlMs: number | undefined
  readonly swrMs: number | undefined
  readonly tags: readonly string[]
}

const BYPASS_SETTING: QueryCacheSetting = { bypass: true, ttlMs: undefined, swrMs: undefined, tags: [] }
const DEFAULT_SETTING: QueryCacheSetting = { bypass: false, ttlMs: undefined, swrMs: undefined, tags: [] }

/**
 * Takes the `cache` argument (or Accelerate's `cacheStrategy`) off a read's arguments (Prisma
 * would reject it) and validates it. Returns the arguments unchanged, and no setting, when there
 * is none.
 */
export function takeCacheOption(args: unknown): { args: unknown; setting: QueryCacheSetting | undefined } {
  if (!isPlainObject(args) || !('cache' in args || 'cacheStrategy' in args)) return { args, setting: undefined }
  const { cache, cacheStrategy, ...rest } = args
  if (cacheStrategy !== undefined) {
    if (cache !== undefined) {
      throw new InvalidOptionError('cacheStrategy', 'absent beside `cache` (use one of the two)', cacheStrategy)
    }
    return { args: rest, setting: strategySetting(cacheStrategy) }
  }
  if (cache === undefined) return { args: rest, setting: undefined }
  if (cache === true) return { args: rest, setting: DEFAULT_SETTING }
  if (cache === false) return { args: rest, setting: BYPASS_SETTING }
  if (!isPlainObject(cache)) throw new InvalidOptionError('cache', 'true, false or { ttl, swr, tags }', cache)
  for (const key of Object.keys(cache)) {
    if (!QUERY_OPTIONS.has(key)) throw new InvalidOptionError(`cache.${key}`, 'absent: use ttl, swr or tags', key)
  }
  return {
    args: rest,
    setting: {
      bypass: false,
      ttlMs: cache.ttl === undefined ? undefined : parseDuration(cache.ttl, 'cache.ttl', 1),
      swrMs: cache.swr === undefined ? undefined : parseDuration(cache.swr, 'cache.swr'),
      tags: optionalStrings(cache.tags, 'cache.tags'),
    },
  }
}

/** Accelerate's `cacheStrategy`: seconds, as Accelerate counts them. */
function strategySetting(strategy: unknown): QueryCacheSetting {
  if (!isPlainObject(strategy)) throw new InvalidOptionError('cacheStrategy', '{ ttl, swr, tags }', strategy)
  for (const key of Object.keys(strategy)) {
    if (!QUERY_OPTIONS.has(key)) {
      throw new InvalidOptionError(`cacheStrategy.${key}`, 'absent: use ttl, swr or tags', key)
    }
  }
  const seconds = (value: unknown, option: string, minMs: number) => {
    if (typeof value !== 'number') throw new InvalidOptionError(option, 'a number of seconds, as in Accelerate', value)
    return durationFromMs(value * 1_000, option, minMs)
  }
  return {
    bypass: false,
    ttlMs: strategy.ttl === undefined ? undefined : seconds(strategy.ttl, 'cacheStrategy.ttl', 1),
    swrMs: strategy.swr === undefined ? undefined : seconds(strategy.swr, 'cacheStrategy.swr', 0),
    tags: optionalStrings(strategy.tags, 'cacheStrategy.tags'),
  }
}

/** How `prisma.$cache.queryRaw` caches one raw read. */
export interface RawQueryCacheOptions {
  /**
   * What invalidates it: at least one tag. Model names are tags that every
   * write to the model invalidates (`['User', 'Post']` for a join of both);
   * custom tags are invalidated by `$cache.invalidate({ tags })`.
   */
  readonly tags: readonly [string, ...string[]]
  /** How long the result is fresh. */
  readonly ttl?: Duration
  /** How long after `ttl` it may be served while one caller refreshes it. */
  readonly swr?: Duration
}

/** Validates the options of `$cache.queryRaw`, naming the faulty one. */
export function checkRawQueryOptions(options: unknown): RawQueryCacheOptions {
  if (!isPlainObject(options)) throw new InvalidOptionError('options', '{ tags, ttl?, swr? }', options)
  for (const key of Object.keys(options)) {
    if (!QUERY_OPTIONS.has(key)) throw new InvalidOptionError(key, 'absent: use tags, ttl or swr', key)
  }
  const { tags, ttl, swr } = options
  if (!Array.isArray(tags) || tags.length === 0 || !tags.every((tag) => typeof tag === 'string' && tag.length > 0)) {
    throw new InvalidOptionError('tags', 'a non-empty array of non-empty strings (model names or your own tags)', tags)
  }
  if (ttl !== undefined) parseDuration(ttl as Duration, 'ttl', 1)
  if (swr !== undefined) parseDuration(swr as Duration, 'swr')
  return options as unknown as RawQueryCacheOptions
}
