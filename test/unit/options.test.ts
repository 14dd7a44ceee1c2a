import { createClient as createNodeRedisClient } from '@redis/client'
import { describe, expect, test } from 'vitest'
import { type CacheOptions, createCache, InvalidOptionError } from '../../src/index.js'

function rejects(options: unknown, option: string): void {
  let caught: unknown
  try {
    createCache(options as CacheOptions)
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(InvalidOptionError)
  expect((caught as InvalidOptionError).option).toBe(option)
  expect((caught as InvalidOptionError).code).toBe('E_INVALID_OPTION')
  expect((caught as Error).message).toContain(`\`${option}\``)
}

describe('options are validated at construction', () => {
  test('ttl: -5 names ttl', () => rejects({ ttl: -5 }, 'ttl'))
  test('ttl: zero and words are refused', () => {
    rejects({ ttl: '0s' }, 'ttl')
    rejects({ ttl: 'soon' }, 'ttl')
  })
  test('prefix must be safe for keys and cluster slots', () => {
    rejects({ prefix: '' }, 'prefix')
    rejects({ prefix: 'a{b}' }, 'prefix')
    rejects({ prefix: 'has space' }, 'prefix')
    // "app" and "app:e" would share keys: app's entry "e:k" is app:e's entry "k".
    rejects({ prefix: 'app:e' }, 'prefix')
    rejects({ prefix: 7 }, 'prefix')
  })
  test('l1 options', () => {
    rejects({ l1: 'big' }, 'l1')
    rejects({ l1: { maxBytes: -1 } }, 'l1.maxBytes')
    rejects({ l1: { maxBytes: 1.5 } }, 'l1.maxBytes')
    rejects({ l1: { ttl: '1 year' } }, 'l1.ttl')
    rejects({ l1: { maxbytes: 10 } }, 'l1.maxbytes')
  })
  test('sizes, timeouts and tag lifetimes', () => {
    rejects({ maxEntryBytes: 0 }, 'maxEntryBytes')
    rejects({ timeout: '0ms' }, 'timeout')
    rejects({ tagTtl: '1ms' }, 'tagTtl')
  })
  test('redis must be a URL, options or a client', () => {
    rejects({ redis: 'localhost:6379' }, 'redis')
    rejects({ redis: 6379 }, 'redis')
    rejects({ redis: ['redis://a'] }, 'redis')
  })
  test('a node-redis client is refused, not taken for options that would open another connection', () => {
    // Not connected: only its shape matters. (@redis/client is node-redis's client package.)
    const nodeRedis = createNodeRedisClient({ url: 'redis://127.0.0.1:6379' })
    rejects({ redis: nodeRedis as never }, 'redis')
    expect(() => createCache({ redis: nodeRedis as never })).toThrow(/node-redis/)
  })
  test('changes: a PostgreSQL or MySQL URL, or { url, publication }; what cannot stream fails here, naming why', () => {
    rejects({ changes: 42 }, 'changes')
    rejects({ changes: 'localhost:5432/app' }, 'changes')
    rejects({ changes: { url: 7 } }, 'changes.url')
    rejects({ changes: { url: 'postgres://db/app', tables: ['x'] } }, 'changes.tables')
    rejects({ changes: { url: 'postgres://db/app', publication: '' } }, 'changes.publication')
    expect(() => createCache({ changes: 'file:./dev.db' })).toThrow(/SQLite has no change stream/)
    // A binlog holds every database of the server: which one is the app's must be said.
    rejects({ changes: 'mysql://root@db:3306' }, 'changes')
    rejects({ changes: { url: 'mariadb://root@db/app', publication: 'mine' } }, 'changes.publication')
    rejects({ changes: 'mongodb://db/app' }, 'changes')
    rejects({ changes: { url: 'postgres://db/app', slot: 'Has-Capitals' } }, 'changes.slot')
    rejects({ changes: { url: 'mysql://db/app', slot: 'ormcache' } }, 'changes.slot')
    // The URL may hold a password: it is never repeated in the message.
    expect(() => createCache({ changes: 'postgres://user:s3cret@db:99999/app' })).toThrow(/a malformed URL/)
    expect(() => createCache({ changes: 'postgres://user:s3cret@db:99999/app' })).not.toThrow(/s3cret/)
  })
  test('a misspelt option is named rather than ignored', () => {
    rejects({ tll: '5s' }, 'tll')
  })
  test('valid options construct a cache', async () => {
    const cache = createCache({ ttl: '30s', l1: { maxBytes: 1024, ttl: '500ms' }, maxEntryBytes: 10, timeout: '50ms' })
    expect(cache.stats().l1Entries).toBe(0)
    await cache.close()
  })
})
