import type { ChangeStreamStats } from './changes/change-feed.js'

/** Counters since the cache was created. Read with `cache.stats()`; each call returns a snapshot. */
export interface CacheStats {
  /** Served from this process's memory. */
  l1Hits: number
  /** Served from Redis. */
  l2Hits: number
  /** Neither tier had a valid entry; the loader ran (or a concurrent load was joined). */
  misses: number
  /** Loader runs. Fewer than `misses` when concurrent misses shared one load. */
  loads: number
  /** Callers that waited for a load already under way in this process instead of starting their own. */
  sharedLoads: number
  /** Entries found but refused because a tag changed since they were loaded. */
  staleRejects: number
  /** Loads whose result was not stored because a tag changed while they ran. */
  staleSetsPrevented: number
  /** Values not cached because they exceed `maxEntryBytes`. */
  oversized: number
  /** Values not cached because the codec cannot encode them. */
  unencodable: number
  /** Bytes in Redis that were not a valid entry: counted, deleted, treated as a miss. */
  corruptEntries: number
  /** Misses that waited for another instance's load of the same key (the stampede lock). */
  lockWaits: number
  /** Waits that gave up after the bounded wait and loaded themselves. */
  lockTimeouts: number
  /** Entries refreshed in the background before expiring (early refresh) or after (stale-while-revalidate). */
  refreshes: number
  /** Expired entries served while a refresh ran (stale-while-revalidate). */
  staleServed: number
  /** Redis operations that failed or timed out; the cache carried on without Redis. */
  redisErrors: number
  /** Times the circuit opened: Redis was given up on until a probe found it healthy. */
  circuitOpens: number
  /** Reads that skipped the cache tiers because Redis or the bus could not be trusted. */
  bypassed: number
  /** Tags invalidated through `invalidate()` (an `invalidateAll()` counts one). */
  invalidations: number
  /** Invalidation messages received from other instances. */
  invalidationsReceived: number
  /** Tag invalidations that could not reach Redis yet and wait to be replayed. */
  pendingInvalidations: number
  /** `'down'` from a failure until a probe finds Redis healthy and pending invalidations are replayed. */
  redis: 'none' | 'up' | 'down'
  /** The invalidation subscription; L1 serves only while it is `'live'` (or there is no Redis). */
  bus: 'none' | 'live' | 'down'
  /** Entries held in L1 and their measured size. */
  l1Entries: number
  l1Bytes: number
  /** The database change stream, when the `changes` option is set. */
  changes: ChangeStreamStats | undefined
}

export type CounterName = Exclude<
  keyof CacheStats,
  'pendingInvalidations' | 'redis' | 'bus' | 'l1Entries' | 'l1Bytes' | 'changes'
>

export class Counters {
  readonly values: Record<CounterName, number> = {
    l1Hits: 0,
    l2Hits: 0,
    misses: 0,
    loads: 0,
    sharedLoads: 0,
    staleRejects: 0,
    staleSetsPrevented: 0,
    oversized: 0,
    unencodable: 0,
    corruptEntries: 0,
    lockWaits: 0,
    lockTimeouts: 0,
    refreshes: 0,
    staleServed: 0,
    redisErrors: 0,
    circuitOpens: 0,
    bypassed: 0,
    invalidations: 0,
    invalidationsReceived: 0,
  }
}
