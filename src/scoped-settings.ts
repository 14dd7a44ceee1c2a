import { type Duration, parseDuration } from './duration.js'
import { InvalidOptionError } from './errors.js'

/**
 * Which reads an adapter caches, its `queries` option: `'all'` every read not
 * marked `cache: false`, `'explicit'` only reads that ask (a `cache` option on
 * Prisma, `cache: true` or `.cache(ms)` on TypeORM). Writes invalidate either way.
 */
export type CachedQueries = 'all' | 'explicit'

/** Validates a `queries` option (or its deprecated alias, named by `option`). */
export function resolveCachedQueries(value: unknown, option: string): CachedQueries | undefined {
  if (value === undefined || value === 'all' || value === 'explicit') return value
  throw new InvalidOptionError(option, "'all' or 'explicit'", value)
}

/** Tuning for the reads of one model (Prisma) or entity (TypeORM), as the user writes it. */
export interface ScopedCacheOptions {
  ttl?: Duration
  swr?: Duration
}

/** After validation: `false` (not cached) or the durations it sets, in ms. */
export type ScopedSetting = false | { readonly ttlMs: number | undefined; readonly swrMs: number | undefined }

/**
 * Validates `{ Name: false | { ttl, swr } }` given under `option` (`models`,
 * `entities`), naming the exact path of anything wrong (`models.User.ttl`).
 */
export function resolveScopedSettings(settings: unknown, option: string, keyedBy: string): Map<string, ScopedSetting> {
  const resolved = new Map<string, ScopedSetting>()
  if (settings === undefined) return resolved
  if (!isPlainObject(settings)) throw new InvalidOptionError(option, `an object keyed by ${keyedBy}`, settings)
  for (const [name, setting] of Object.entries(settings)) {
    const path = `${option}.${name}`
    if (setting === false) {
      resolved.set(name, false)
      continue
    }
    if (!isPlainObject(setting)) throw new InvalidOptionError(path, 'false or { ttl, swr }', setting)
    for (const key of Object.keys(setting)) {
      if (key !== 'ttl' && key !== 'swr') throw new InvalidOptionError(`${path}.${key}`, 'absent: use ttl or swr', key)
    }
    resolved.set(name, {
      ttlMs: setting.ttl === undefined ? undefined : parseDuration(setting.ttl, `${path}.ttl`, 1),
      swrMs: setting.swr === undefined ? undefined : parseDuration(setting.swr, `${path}.swr`),
    })
  }
  return resolved
}

/** Fails on a name the ORM does not know: a typo would silently cache what was meant not to be. */
export function checkScopedNames(
  settings: ReadonlyMap<string, ScopedSetting>,
  option: string,
  known: readonly string[],
  what: string,
): void {
  for (const name of settings.keys()) {
    if (!known.includes(name)) {
      throw new InvalidOptionError(`${option}.${name}`, `the name of ${what} (${known.join(', ')})`, name)
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}
