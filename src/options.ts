import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { type ChangeStreamOptions, type ResolvedChanges, resolveChanges } from './changes/options.js'
import { type Duration, parseDuration } from './duration.js'
import { InvalidOptionError } from './errors.js'

export interface L1Options {
  /**
   * Upper bound on the encoded bytes held in process memory.
   * @default 67_108_864 (64 MiB)
   */
  maxBytes?: number
  /**
   * Longest time an entry is served from memory, however long its TTL.
   * @default the entry's TTL
   */
  ttl?: Duration
}

export interface LockOptions {
  /**
   * How long a loading instance holds a key's lock; a crashed holder blocks others at most this long.
   * @default '5s'
   */
  ttl?: Duration
  /**
   * Longest time a miss waits for another instance's load before loading itself.
   * @default '2s'
   */
  wait?: Duration
}

export interface CacheOptions {
  /**
   * Redis for the shared L2: a URL, ioredis options, or an existing ioredis
   * `Redis` or `Cluster` (which the cache then uses but never closes).
   * Without it the cache is in-process only.
   */
  redis?: string | RedisOptions | Redis | Cluster
  /**
   * Namespace of every key and channel, so apps sharing one Redis never see each other's entries.
   * 1 to 64 characters from `A-Z a-z 0-9 _ . -`.
   * @default 'ormcache'
   */
  prefix?: string
  /**
   * How long an entry is served when the caller gives no TTL.
   * @default '60s'
   */
  ttl?: Duration
  /**
   * After its TTL, an entry is still served for this long while one caller
   * refreshes it in the background (stale-while-revalidate). Never applies to
   * invalidated entries.
   * @default 0
   */
  swr?: Duration
  /**
   * Probabilistic early refresh of hot entries (XFetch): `true`, or the `beta`
   * weight (higher refreshes earlier), so popular entries never all expire at once.
   * @default false
   */
  earlyRefresh?: boolean | number
  /**
   * Concurrent misses of one key across instances run one load; the rest wait
   * for its entry. `false` turns the cross-instance lock off (single-flight within
   * a process stays).
   */
  lock?: false | LockOptions
  /** The in-process tier; `false` turns it off. */
  l1?: false | L1Options
  /**
   * Results that encode to more bytes than this are returned but not cached.
   * @default 1_048_576 (1 MiB)
   */
  maxEntryBytes?: number
  /**
   * Longest wait for one Redis operation before the cache carries on without Redis.
   * @default '250ms'
   */
  timeout?: Duration
  /**
   * Lifetime of a tag's version in Redis, renewed while entries use it. An entry
   * outliving its tag's version is dropped, never served stale.
   * @default '1d'
   */
  tagTtl?: Duration
  /**
   * Follow the database's own change stream, so writes made outside this app (another service, a
   * script, psql, a trigger, a cascade) invalidate the cache too, within the stream's lag: a
   * `postgres://` URL (a role with `REPLICATION`, on a server with `wal_level = logical`), a
   * `mysql://` URL naming its database (row binlog), or `{ url, publication, slot }`. One instance
   * per prefix follows it; the others stand by.
   */
  changes?: string | ChangeStreamOptions
}

export interface ResolvedOptions {
  readonly redis: CacheOptions['redis']
  readonly prefix: string
  readonly ttlMs: number
  readonly swrMs: number
  /** XFetch `beta`; 0 when early refresh is off. */
  readonly earlyRefreshBeta: number
  readonly lock: false | { readonly ttlMs: number; readonly waitMs: number }
  readonly l1: false | { readonly maxBytes: number; readonly ttlMs: number | undefined }
  readonly maxEntryBytes: number
  readonly timeoutMs: number
  readonly tagTtlMs: number
  readonly changes: ResolvedChanges | undefined
  /** `redis` was given, as `undefined`: most likely an unset environment variable, worth a warning. */
  readonly redisGivenUndefined: boolean
}

/** The `prefix` when none is given. */
export const DEFAULT_PREFIX = 'ormcache'

const KNOWN_OPTIONS = new Set<string>([
  'redis',
  'prefix',
  'ttl',
  'swr',
  'earlyRefresh',
  'lock',
  'l1',
  'maxEntryBytes',
  'timeout',
  'tagTtl',
  'changes',
])
const KNOWN_L1_OPTIONS = new Set<string>(['maxBytes', 'ttl'])
const KNOWN_LOCK_OPTIONS = new Set<string>(['ttl', 'wait'])
// Braces are excluded because `{…}` in a key picks its Redis Cluster slot; colons because
// keys are `<prefix>:e:<key>`: with "app" and "app:e" both allowed, app's entry "e:k" and
// app:e's entry "k" would be one Redis key, and two apps would share entries.
const PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

/** Validates options once, at construction, so a typo fails where it was made and not on the first query. */
export function resolveOptions(options: CacheOptions = {}, adapterOptions: readonly string[] = []): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', 'an object', options)
  // An adapter takes its own options off first, but they belong in the list a typo is shown.
  rejectUnknown(options, new Set([...KNOWN_OPTIONS, ...adapterOptions]), '')
  const prefix = options.prefix ?? DEFAULT_PREFIX
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new InvalidOptionError('prefix', '1 to 64 characters from A-Z a-z 0-9 _ . -', prefix)
  }
  const ttlMs = parseDuration(options.ttl ?? '60s', 'ttl', 1)
  const tagTtlMs = parseDuration(options.tagTtl ?? '1d', 'tagTtl', 1_000)
  return {
    redis: validateRedis(options.redis),
    prefix,
    ttlMs,
    swrMs: options.swr === undefined ? 0 : parseDuration(options.swr, 'swr'),
    earlyRefreshBeta: resolveEarlyRefresh(options.earlyRefresh),
    lock: resolveLock(options.lock),
    l1: resolveL1(options.l1),
    maxEntryBytes: positiveInteger(options.maxEntryBytes ?? 1_048_576, 'maxEntryBytes'),
    timeoutMs: parseDuration(options.timeout ?? '250ms', 'timeout', 1),
    tagTtlMs,
    changes: resolveChanges(options.changes),
    redisGivenUndefined: 'redis' in options && options.redis === undefined,
  }
}

function resolveL1(l1: CacheOptions['l1']): ResolvedOptions['l1'] {
  if (l1 === false) return false
  if (l1 === undefined || (l1 as unknown) === true) return { maxBytes: 64 * 1024 * 1024, ttlMs: undefined }
  if (l1 === null || typeof l1 !== 'object') throw new InvalidOptionError('l1', 'false or { maxBytes, ttl }', l1)
  rejectUnknown(l1, KNOWN_L1_OPTIONS, 'l1.')
  return {
    maxBytes: positiveInteger(l1.maxBytes ?? 64 * 1024 * 1024, 'l1.maxBytes'),
    ttlMs: l1.ttl === undefined ? undefined : parseDuration(l1.ttl, 'l1.ttl', 1),
  }
}

function resolveEarlyRefresh(earlyRefresh: unknown): number {
  if (earlyRefresh === undefined || earlyRefresh === false) return 0
  if (earlyRefresh === true) return 1
  if (typeof earlyRefresh === 'number' && Number.isFinite(earlyRefresh) && earlyRefresh > 0) return earlyRefresh
  throw new InvalidOptionError('earlyRefresh', 'a boolean or a positive number (the XFetch beta)', earlyRefresh)
}

function resolveLock(lock: CacheOptions['lock']): ResolvedOptions['lock'] {
  if (lock === false) return false
  if (lock === undefined || (lock as unknown) === true) return { ttlMs: 5_000, waitMs: 2_000 }
  if (lock === null || typeof lock !== 'object') throw new InvalidOptionError('lock', 'false or { ttl, wait }', lock)
  rejectUnknown(lock, KNOWN_LOCK_OPTIONS, 'lock.')
  return {
    ttlMs: parseDuration(lock.ttl ?? '5s', 'lock.ttl', 10),
    waitMs: parseDuration(lock.wait ?? '2s', 'lock.wait'),
  }
}

function validateRedis(redis: unknown): CacheOptions['redis'] {
  if (redis === undefined || typeof redis === 'string') {
    if (typeof redis === 'string' && !/^rediss?:\/\//.test(redis)) {
      throw new InvalidOptionError(
        'redis',
        'a redis:// or rediss:// URL, ioredis options, or an ioredis Redis/Cluster',
        redis,
      )
    }
    if (redis !== undefined) checkRedisUrl(redis, 'redis')
    return redis
  }
  if (isForeignRedisClient(redis)) {
    // Taken for options, its fields would make ormcache open its own connection to 127.0.0.1:6379,
    // which in production may be another Redis than the app's.
    throw new InvalidOptionError(
      'redis',
      "a redis:// URL, ioredis options, or an ioredis Redis/Cluster; node-redis and other clients are not supported: pass the client's URL instead",
      'a Redis client that is not ioredis',
    )
  }
  if (redis !== null && typeof redis === 'object' && !Array.isArray(redis)) return redis as CacheOptions['redis']
  throw new InvalidOptionError(
    'redis',
    'a redis:// or rediss:// URL, ioredis options, or an ioredis Redis/Cluster',
    redis,
  )
}

/**
 * Fails on a URL ioredis would throw on when the cache connects (a bad port, a
 * stray `%` in the password), so it fails here, naming the option. The URL is
 * not shown, nor kept as the error's `cause` (URL errors carry their input): it may hold a password.
 */
export function checkRedisUrl(url: string, option: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
    decodeURIComponent(parsed.username)
    decodeURIComponent(parsed.password)
  } catch {
    throw new InvalidOptionError(
      option,
      'a well-formed redis:// or rediss:// URL (host, port, percent-encoded user and password)',
      'a malformed URL',
    )
  }
  return parsed
}

function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(option, 'a positive whole number of bytes', value)
  }
  return value
}

function rejectUnknown(options: object, known: Set<string>, path: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new InvalidOptionError(`${path}${key}`, `one of the known options (${[...known].join(', ')})`, key)
    }
  }
}

/**
 * A connected client of another library (node-redis's `createClient()`, say): it has methods, as
 * an ioredis client does, but not ioredis's `defineCommand`. Plain options have no methods.
 */
function isForeignRedisClient(redis: unknown): boolean {
  if (redis === null || typeof redis !== 'object') return false
  const candidate = redis as Record<string, unknown>
  if (typeof candidate.defineCommand === 'function') return false
  return ['sendCommand', 'connect', 'duplicate', 'quit'].some((method) => typeof candidate[method] === 'function')
}
