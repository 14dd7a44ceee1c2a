// Every error a user can receive is an OrmCacheError with a stable code: the
// exported classes, enumerated, and a throw site of each kind.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { DataSource } from 'typeorm'
import { afterEach, describe, expect, test } from 'vitest'
import { readClientInternals } from '../../adapters/prisma/client-internals.js'
import { cacheOf, withCache } from '../../adapters/typeorm/index.js'
import { registerCodecExtension } from '../../src/codec.js'
import * as ormcache from '../../src/index.js'
import {
  type Cache,
  CacheClosedError,
  ChangeStreamError,
  createCache,
  InvalidOptionError,
  InvalidUsageError,
  OrmCacheError,
  type OrmCacheErrorCode,
  RedisUnavailableError,
  SchemaParseError,
  UnkeyableArgsError,
  UnsupportedOrmError,
} from '../../src/index.js'

// One instance of each exported class, made as ormcache makes it.
const INSTANCES: Record<string, OrmCacheError> = {
  OrmCacheError: new OrmCacheError('E_INVALID_OPTION', 'ormcache: base'),
  InvalidOptionError: new InvalidOptionError('ttl', 'a duration', 'soon'),
  InvalidUsageError: new InvalidUsageError('not like this'),
  UnkeyableArgsError: new UnkeyableArgsError('arguments contain a function'),
  CacheClosedError: new CacheClosedError(),
  RedisUnavailableError: new RedisUnavailableError('no answer within 250 ms'),
  SchemaParseError: new SchemaParseError('unbalanced braces'),
  UnsupportedOrmError: new UnsupportedOrmError('needs Prisma 7'),
  ChangeStreamError: new ChangeStreamError("PostgreSQL's wal_level is 'replica'"),
}

// The published codes: a test that fails when one changes, since users branch on them.
const CODES: Record<string, OrmCacheErrorCode> = {
  InvalidOptionError: 'E_INVALID_OPTION',
  InvalidUsageError: 'E_INVALID_USAGE',
  UnkeyableArgsError: 'E_UNKEYABLE_ARGS',
  CacheClosedError: 'E_CACHE_CLOSED',
  RedisUnavailableError: 'E_REDIS_UNAVAILABLE',
  SchemaParseError: 'E_SCHEMA_PARSE',
  UnsupportedOrmError: 'E_UNSUPPORTED_ORM',
  ChangeStreamError: 'E_CHANGE_STREAM',
}

describe('the exported error classes', () => {
  const exported = Object.entries(ormcache).filter(
    ([, value]) => typeof value === 'function' && value.prototype instanceof Error,
  )

  test('are all OrmCacheErrors, each with its own stable code', () => {
    expect(exported.map(([name]) => name).sort()).toEqual(Object.keys(INSTANCES).sort())
    for (const [name, Class] of exported) {
      const error = INSTANCES[name]!
      expect(error).toBeInstanceOf(Class)
      expect(error).toBeInstanceOf(OrmCacheError)
      expect(error).toBeInstanceOf(Error)
      expect(error.name).toBe(name)
      expect(error.message).toMatch(/^ormcache: /)
      if (name !== 'OrmCacheError') expect(error.code).toBe(CODES[name])
    }
    expect(new Set(Object.values(CODES)).size).toBe(Object.keys(CODES).length)
  })

  test('keep the cause they are given', () => {
    const cause = new Error('socket closed')
    expect(new RedisUnavailableError('connection end', { cause }).cause).toBe(cause)
    expect(new InvalidUsageError('x', { cause }).cause).toBe(cause)
    expect(new UnsupportedOrmError('x', { cause }).cause).toBe(cause)
    expect(new InvalidOptionError('redis', 'a URL', 'x', { cause }).cause).toBe(cause)
  })
})

describe('throw sites', () => {
  const caches: Cache[] = []
  const listeners: [string, (message: unknown) => void][] = []
  afterEach(async () => {
    for (const [name, listener] of listeners.splice(0)) unsubscribe(name, listener)
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
  })

  test('options, including a malformed Redis URL, which is not echoed (it may hold a password)', () => {
    expect(() => createCache({ ttl: 'soon' as '1s' })).toThrow(InvalidOptionError)
    for (const url of ['redis://:p%zz@127.0.0.1:6379', 'redis://127.0.0.1:port', 'redis://[::1']) {
      let caught: unknown
      try {
        createCache({ redis: url })
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(InvalidOptionError)
      expect(caught).toMatchObject({ code: 'E_INVALID_OPTION', option: 'redis' })
      expect((caught as Error).message).not.toContain(url)
    }
    expect(() =>
      registerCodecExtension({ type: 0, is: (_): _ is never => false, encode: String, decode: String }),
    ).toThrow(/`extension.type` must be an integer from 1 to 127/)
  })

  test('a closed cache, unkeyable arguments, tags outside an array', async () => {
    const cache = createCache()
    expect(() => ormcache.hashArgs({ where: () => 1 })).toThrow(UnkeyableArgsError)
    await expect(cache.invalidate({ tags: 'User' as never })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    await cache.close()
    await expect(cache.getOrLoad('k', [], () => 1)).rejects.toThrow(CacheClosedError)
  })

  test('Redis that does not answer is reported as RedisUnavailableError, and reads carry on', async () => {
    const errors: unknown[] = []
    const listener = (message: unknown) => errors.push((message as { error: unknown }).error)
    subscribe('ormcache:redis-error', listener)
    listeners.push(['ormcache:redis-error', listener])
    // Nothing listens on port 1: the connection is refused, the first read times out, the circuit opens.
    const cache = createCache({ redis: 'redis://127.0.0.1:1', prefix: 'errors-test', timeout: '50ms' })
    caches.push(cache)
    expect(await cache.getOrLoad('k', ['T'], () => 1)).toBe(1)
    expect(await cache.getOrLoad('k', ['T'], () => 2)).toBe(2)
    expect(errors.length).toBeGreaterThan(0)
    for (const error of errors) {
      expect(error).toBeInstanceOf(RedisUnavailableError)
      expect(error).toMatchObject({ code: 'E_REDIS_UNAVAILABLE' })
    }
  })

  test('adapters: a client that is not Prisma 7, a transaction client, TypeORM stats before initialize()', () => {
    expect(() => readClientInternals({})).toThrow(UnsupportedOrmError)
    expect(() => readClientInternals({ _runtimeDataModel: { models: {} } })).toThrow(InvalidUsageError)
    const dataSource = new DataSource(withCache({ type: 'better-sqlite3', database: ':memory:' }))
    expect(() => cacheOf(dataSource).stats()).toThrow(InvalidUsageError)
    expect(() => cacheOf(dataSource).stats()).toThrow(/initialize\(\)/)
  })
})
