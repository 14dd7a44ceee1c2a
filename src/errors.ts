/**
 * Stable codes, so callers can branch on `error.code` rather than on message
 * text. A code, once published, keeps its meaning; new ones may be added.
 */
export type OrmCacheErrorCode =
  | 'E_INVALID_OPTION'
  | 'E_INVALID_USAGE'
  | 'E_UNKEYABLE_ARGS'
  | 'E_CACHE_CLOSED'
  | 'E_REDIS_UNAVAILABLE'
  | 'E_SCHEMA_PARSE'
  | 'E_UNSUPPORTED_ORM'
  | 'E_CHANGE_STREAM'

/** Every error ormcache throws or reports is one of these; `code` tells which. */
export class OrmCacheError extends Error {
  readonly code: OrmCacheErrorCode

  constructor(code: OrmCacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OrmCacheError'
    this.code = code
  }
}

/** Thrown at construction (or by the call given it): names the option, what it got, and what it accepts. */
export class InvalidOptionError extends OrmCacheError {
  readonly option: string

  constructor(option: string, expected: string, received: unknown, options?: { cause?: unknown }) {
    super(
      'E_INVALID_OPTION',
      `ormcache: option \`${option}\` must be ${expected}; received ${describe(received)}`,
      options,
    )
    this.name = 'InvalidOptionError'
    this.option = option
  }
}

/**
 * A call made in a way ormcache cannot honour, whatever its options: a write
 * handed to `$cache.queryRaw`, a `withInfo` callback that makes no read or
 * several, `stats()` before the DataSource is initialized. The message says what to do instead.
 */
export class InvalidUsageError extends OrmCacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_INVALID_USAGE', `ormcache: ${message}`, options)
    this.name = 'InvalidUsageError'
  }
}

/** Query arguments that cannot be turned into a key (functions, symbols, cycles). */
export class UnkeyableArgsError extends OrmCacheError {
  constructor(reason: string) {
    super('E_UNKEYABLE_ARGS', `ormcache: cannot build a cache key: ${reason}`)
    this.name = 'UnkeyableArgsError'
  }
}

export class CacheClosedError extends OrmCacheError {
  constructor() {
    super('E_CACHE_CLOSED', 'ormcache: the cache is closed')
    this.name = 'CacheClosedError'
  }
}

/**
 * A Redis operation that failed for want of Redis: no answer within `timeout`,
 * no connection, or the circuit open after an earlier failure. The cache
 * carries on without Redis, so this reaches you only as the `error` of an
 * `ormcache:redis-error` event (counted in `stats().redisErrors`), never as a
 * failed query.
 */
export class RedisUnavailableError extends OrmCacheError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('E_REDIS_UNAVAILABLE', `ormcache: Redis unavailable: ${reason}`, options)
    this.name = 'RedisUnavailableError'
  }
}

/**
 * The Prisma schema embedded in the client could not be read. Never thrown at
 * you: the adapter falls back to invalidating more (every model a write could
 * reach by any relation), counts it in `stats().schemaFallbacks`, warns once
 * (`ORMCACHE_SCHEMA_FALLBACK`) and reports this error on `ormcache:schema-fallback`.
 */
export class SchemaParseError extends OrmCacheError {
  constructor(reason: string) {
    super('E_SCHEMA_PARSE', `ormcache: cannot read the Prisma schema: ${reason}`)
    this.name = 'SchemaParseError'
  }
}

/** The ORM (its version, client or driver) does not offer what ormcache needs; the message names what is missing. */
export class UnsupportedOrmError extends OrmCacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_UNSUPPORTED_ORM', `ormcache: ${message}`, options)
    this.name = 'UnsupportedOrmError'
  }
}

/**
 * The database's change stream (option `changes`) cannot run: the server is not set up for it,
 * the user lacks a right, or a package is missing; the message names what to change. Never thrown
 * at you: the cache carries on, retrying, and reports it as `stats().changes.error`, on
 * `ormcache:changes` and in one process warning (`ORMCACHE_CHANGE_STREAM`).
 */
export class ChangeStreamError extends OrmCacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CHANGE_STREAM', `ormcache: ${message}`, options)
    this.name = 'ChangeStreamError'
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === null || typeof value !== 'object') return String(value)
  if (Array.isArray(value)) return 'an array'
  return `an object (${Object.getPrototypeOf(value)?.constructor?.name ?? 'null prototype'})`
}
