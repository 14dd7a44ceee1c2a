import { channel } from 'node:diagnostics_channel'

/**
 * Events on `node:diagnostics_channel`, for OpenTelemetry, prom-client or logs,
 * without a dependency on any of them. Subscribe with
 * `diagnostics_channel.subscribe('ormcache:hit', (message) => …)`. Keys are
 * the cache keys (hashes when they come from an adapter), never raw query values.
 */
export const CHANNELS = {
  /** `{ prefix, key, tier: 'l1' | 'l2' }` */
  hit: channel('ormcache:hit'),
  /** `{ prefix, key }` — neither tier had a valid entry. */
  miss: channel('ormcache:miss'),
  /** `{ prefix, key, durationMs }` — the loader ran. */
  load: channel('ormcache:load'),
  /** `{ prefix, key }` — an entry was refused because one of its tags changed. */
  staleReject: channel('ormcache:stale-reject'),
  /** `{ prefix, tags, origin: 'local' | 'remote' }` — `tags` is `undefined` for everything. */
  invalidate: channel('ormcache:invalidate'),
  /** `{ prefix, key, outcome: 'filled' | 'acquired' | 'timeout', waitedMs }` — waited for another instance's load. */
  lockWait: channel('ormcache:lock-wait'),
  /** `{ prefix, error }` — a Redis operation failed or timed out; the cache carried on without it. */
  redisError: channel('ormcache:redis-error'),
  /** `{ prefix, state: 'open' | 'closed' }` — Redis given up on, or trusted again. */
  circuit: channel('ormcache:circuit'),
  /** `{ prefix, state: 'live' | 'down' }` — the invalidation bus subscription. */
  bus: channel('ormcache:bus'),
  /**
   * `{ prefix, error }` — an adapter could not read its ORM's schema (`error`: a `SchemaParseError`)
   * and falls back to coarser rules for that client: writes invalidate more, reads hit less.
   */
  schemaFallback: channel('ormcache:schema-fallback'),
  /**
   * `{ prefix, state, gap?, error? }` — the database change stream (option `changes`) of this
   * instance: `state` as in `stats().changes.state`; `gap: true` when it started streaming and
   * invalidated everything for what it may have missed; `error` (a `ChangeStreamError`) when it failed.
   */
  changes: channel('ormcache:changes'),
} as const

/** Builds the message only when someone listens: hits stay allocation-free otherwise. */
export function publish(target: (typeof CHANNELS)[keyof typeof CHANNELS], message: () => object): void {
  if (target.hasSubscribers) target.publish(message())
}
