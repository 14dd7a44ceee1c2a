import type { RedisOptions } from 'ioredis'
import { InvalidOptionError } from '../../src/errors.js'
import { checkRedisUrl } from '../../src/options.js'
import { type CachedQueries, isPlainObject } from '../../src/scoped-settings.js'

/**
 * What the DataSource's own `cache` option asks of ormcache, once translated.
 * A field is set only when that option says something, so that withCache's own
 * options can take over where it is silent and conflict where it is not.
 */
export interface BuiltinCacheRequest {
  /** From `alwaysEnabled`. */
  readonly queries?: CachedQueries
  /** From `duration`, in milliseconds. */
  readonly ttl?: number
  /**
   * From `type: 'redis' | 'ioredis'`: the Redis TypeORM would have connected
   * to, as ioredis takes it. `explicit` is false when `options` was absent and
   * TypeORM would have used its client's default (127.0.0.1:6379).
   */
  readonly redis?: { readonly connection: string | RedisOptions; readonly explicit: boolean }
}

const AT = 'dataSourceOptions.cache'
// TypeORM 1.1's `BaseDataSourceOptions['cache']`: any other key is one we would drop without a word.
const KNOWN_KEYS = ['type', 'provider', 'tableName', 'options', 'alwaysEnabled', 'duration', 'ignoreErrors']
const REDIS_URL = /^rediss?:\/\//
// The node-redis client options (TypeORM's `type: 'redis'`) that have an ioredis equivalent.
const NODE_REDIS_KEYS = ['url', 'socket', 'username', 'password', 'database', 'name']
const NODE_REDIS_SOCKET_KEYS = ['host', 'port', 'path', 'tls']

/**
 * Maps TypeORM's `cache` DataSource option onto ormcache's options, and
 * refuses what ormcache cannot honour: withCache replaces TypeORM's
 * query-result cache, so a setting of that cache left unread would be a
 * setting the app believes in and does not have.
 */
export function readBuiltinCacheOption(cache: unknown): BuiltinCacheRequest {
  // `cache: true` asks for TypeORM's defaults; withCache caches either way.
  if (cache === undefined || cache === null || typeof cache === 'boolean') return {}
  if (!isPlainObject(cache))
    throw new InvalidOptionError(AT, 'true, false or an object of TypeORM cache settings', cache)
  for (const key of Object.keys(cache)) {
    if (!KNOWN_KEYS.includes(key)) {
      throw new InvalidOptionError(`${AT}.${key}`, `absent: ormcache reads ${KNOWN_KEYS.join(', ')}`, key)
    }
  }
  if (cache.provider !== undefined) {
    throw new InvalidOptionError(`${AT}.provider`, 'absent: withCache provides the query-result cache', 'a function')
  }
  if (cache.tableName !== undefined) {
    throw new InvalidOptionError(
      `${AT}.tableName`,
      'absent: ormcache keeps its entries in process memory and in the Redis given as withCache’s `redis`, never in a table',
      cache.tableName,
    )
  }
  if (cache.ignoreErrors !== undefined && cache.ignoreErrors !== true) {
    throw new InvalidOptionError(
      `${AT}.ignoreErrors`,
      'true or absent: ormcache never fails a query for a cache error (with Redis down or slow, reads go to the database)',
      cache.ignoreErrors,
    )
  }
  const request: { -readonly [K in keyof BuiltinCacheRequest]: BuiltinCacheRequest[K] } = {}
  if (cache.alwaysEnabled !== undefined) {
    if (typeof cache.alwaysEnabled !== 'boolean') {
      throw new InvalidOptionError(`${AT}.alwaysEnabled`, 'a boolean', cache.alwaysEnabled)
    }
    request.queries = cache.alwaysEnabled ? 'all' : 'explicit'
  }
  if (cache.duration !== undefined) {
    const duration = cache.duration
    if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0) {
      throw new InvalidOptionError(`${AT}.duration`, 'a positive number of milliseconds', duration)
    }
    request.ttl = duration
  }
  const redis = redisOf(cache.type, cache.options)
  if (redis !== undefined) request.redis = redis
  return request
}

function redisOf(type: unknown, options: unknown): BuiltinCacheRequest['redis'] {
  switch (type) {
    case undefined:
      if (options !== undefined) {
        throw new InvalidOptionError(
          `${AT}.options`,
          "absent unless `cache.type` is 'redis' or 'ioredis' (or pass `redis` to withCache)",
          options,
        )
      }
      return undefined
    case 'redis':
      return { connection: options === undefined ? {} : fromNodeRedis(options), explicit: options !== undefined }
    case 'ioredis':
      return { connection: options === undefined ? {} : fromIoredis(options), explicit: options !== undefined }
    case 'ioredis/cluster':
      throw new InvalidOptionError(
        `${AT}.type`,
        "absent, 'redis' or 'ioredis': ormcache opens no Redis Cluster from options; create an ioredis `Cluster` and pass it as withCache's `redis`, and remove `cache.type` and `cache.options`",
        type,
      )
    case 'database':
      throw new InvalidOptionError(
        `${AT}.type`,
        "absent, 'redis' or 'ioredis': ormcache replaces TypeORM's query-result cache and keeps no cache table; remove `cache.type` (pass `redis` to withCache to share entries between instances)",
        type,
      )
    default:
      throw new InvalidOptionError(`${AT}.type`, "absent, 'redis' or 'ioredis'", type)
  }
}

/** `type: 'ioredis'`: TypeORM passes `options` to `new Redis(options)`, as the engine does. */
function fromIoredis(options: unknown): string | RedisOptions {
  if (typeof options === 'string' && REDIS_URL.test(options)) return options
  if (isPlainObject(options)) return options as RedisOptions
  throw new InvalidOptionError(
    `${AT}.options`,
    "a redis:// or rediss:// URL or ioredis options for type 'ioredis'",
    options,
  )
}

/**
 * `type: 'redis'`: TypeORM passes `options` to node-redis's `createClient`,
 * whose option names differ from ioredis's. The connection fields translate;
 * anything else (sockets' timeouts, RESP3, modules…) has no place in the
 * engine's client and is refused rather than dropped.
 */
function fromNodeRedis(options: unknown): string | RedisOptions {
  const at = `${AT}.options`
  if (!isPlainObject(options)) throw new InvalidOptionError(at, "node-redis client options for type 'redis'", options)
  rejectUnknown(options, NODE_REDIS_KEYS, at)
  const { url, socket, username, password, database, name } = options
  // The common `{ url }` stays a URL, the same connection as that URL given to withCache.
  if (url !== undefined && Object.keys(options).length === 1) return nodeRedisUrl(url, `${at}.url`)
  const result: Record<string, unknown> = {}
  if (socket !== undefined) {
    if (!isPlainObject(socket)) throw new InvalidOptionError(`${at}.socket`, 'an object', socket)
    rejectUnknown(socket, NODE_REDIS_SOCKET_KEYS, `${at}.socket`)
    if (socket.host !== undefined) result.host = socket.host
    if (socket.port !== undefined) result.port = socket.port
    if (socket.path !== undefined) result.path = socket.path
    if (socket.tls !== undefined && typeof socket.tls !== 'boolean') {
      throw new InvalidOptionError(
        `${at}.socket.tls`,
        'a boolean (TLS options: pass ioredis options as `redis`)',
        socket.tls,
      )
    }
    if (socket.tls === true) result.tls = {}
  }
  if (username !== undefined) result.username = username
  if (password !== undefined) result.password = password
  if (database !== undefined) result.db = database
  if (name !== undefined) result.connectionName = name
  // node-redis lets the URL's parts win over the same fields given beside it, `redis:` turning TLS off.
  if (url !== undefined) {
    const parts = urlParts(nodeRedisUrl(url, `${at}.url`), `${at}.url`)
    if (parts.tls === undefined) delete result.tls
    Object.assign(result, parts)
  }
  return result as RedisOptions
}

function nodeRedisUrl(url: unknown, at: string): string {
  if (typeof url !== 'string' || !REDIS_URL.test(url))
    throw new InvalidOptionError(at, 'a redis:// or rediss:// URL', url)
  return url
}

/** The fields a node-redis URL sets, as ioredis options. */
function urlParts(url: string, option: string): Record<string, unknown> {
  const parsed = checkRedisUrl(url, option)
  const parts: Record<string, unknown> = { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') }
  if (parsed.protocol === 'rediss:') parts.tls = {}
  if (parsed.port !== '') parts.port = Number(parsed.port)
  if (parsed.username !== '') parts.username = decodeURIComponent(parsed.username)
  if (parsed.password !== '') parts.password = decodeURIComponent(parsed.password)
  if (parsed.pathname.length > 1) parts.db = Number(parsed.pathname.slice(1))
  return parts
}

function rejectUnknown(options: Record<string, unknown>, known: readonly string[], at: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(
        `${at}.${key}`,
        `absent: ormcache maps ${known.join(', ')} to ioredis (for anything else, pass ioredis options or a client as withCache's \`redis\`)`,
        key,
      )
    }
  }
}
