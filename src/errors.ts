/** Stable codes, so callers can branch on `error.code` rather than on message text. */
export type OrmCacheErrorCode = 'E_INVALID_OPTION' | 'E_UNKEYABLE_ARGS' | 'E_CACHE_CLOSED'

export class OrmCacheError extends Error {
  readonly code: OrmCacheErrorCode

  constructor(code: OrmCacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OrmCacheError'
    this.code = code
  }
}

/** Thrown at construction: names the option, what it got, and what it accepts. */
export class InvalidOptionError extends OrmCacheError {
  readonly option: string

  constructor(option: string, expected: string, received: unknown) {
    super('E_INVALID_OPTION', `ormcache: option \`${option}\` must be ${expected}; received ${describe(received)}`)
    this.name = 'InvalidOptionError'
    this.option = option
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

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === null || typeof value !== 'object') return String(value)
  if (Array.isArray(value)) return 'an array'
  return `an object (${Object.getPrototypeOf(value)?.constructor?.name ?? 'null prototype'})`
}
