import type { Duration } from './duration.js'
import type { CacheStats } from './stats.js'

// The engine's contract: what `createCache` returns to users, and what the adapters use beside it.

export interface GetOrLoadOptions {
  /** How long this entry is fresh; overrides the cache's `ttl`. */
  ttl?: Duration
  /** How long after that it may be served while it refreshes; overrides the cache's `swr`. */
  swr?: Duration
}

/** What `invalidate` makes a miss (one of the two, or both): the shape `prisma.$cache` and TypeORM's `cacheOf()` take too. */
export interface InvalidateOptions {
  /** Every entry carrying one of these tags. */
  tags?: readonly string[]
  /**
   * Every entry that read one of these tables (as the database names them) through either
   * adapter: their tags in the shared vocabulary, for a write made outside the ORMs.
   */
  tables?: readonly string[]
}

export interface Cache {
  /**
   * Returns the cached value for `key`, or runs `loader` and caches what it
   * returns. `tags` name what the value depends on: `invalidate` of any of them
   * makes it a miss. Each call returns its own copy, safe to mutate.
   */
  getOrLoad<T>(
    key: string,
    tags: readonly string[],
    loader: () => T | Promise<T>,
    options?: GetOrLoadOptions,
  ): Promise<T>
  /**
   * Makes every entry carrying one of `tags` a miss, here and in every instance
   * sharing the Redis. When it resolves, this process's next read loads fresh;
   * other instances' memory follows within the pub/sub delay.
   * @example await cache.invalidate({ tags: ['User:1'] })
   */
  invalidate(options: InvalidateOptions): Promise<void>
  /**
   * The tags as an array, the engine's form before 1.0.
   * @deprecated Pass `{ tags }`, as `prisma.$cache` and `cacheOf()` take it: `cache.invalidate({ tags: ['User:1'] })`.
   */
  invalidate(tags: readonly string[]): Promise<void>
  /** Makes every entry a miss, as `invalidate` does for tags: for writes whose reach cannot be told. */
  invalidateAll(): Promise<void>
  stats(): CacheStats
  /** Waits for pending writes to Redis and closes the connections the cache opened itself. */
  close(): Promise<void>
}

/**
 * Where `getOrLoad` found a value: this process's memory, Redis, an entry past
 * its TTL served while it refreshes (`swr`), or the loader (this caller's run
 * or a concurrent caller's that it joined). The adapters turn it into the
 * public `CacheOrigin` of `withInfo`.
 */
export type ServedOrigin = 'l1' | 'l2' | 'stale' | 'loader'

/** `getOrLoad` options only the adapters pass; not part of the public `GetOrLoadOptions`. */
export interface AdapterLoadOptions extends GetOrLoadOptions {
  /**
   * Told, before the returned promise resolves, where the value came from and,
   * for a cached one, when that entry expires (ms since the epoch). For
   * `withInfo` and benchmarks: without it a hit does no extra work.
   */
  onServed?: (origin: ServedOrigin, expiresAt: number | undefined) => void
  /** `ttl` in milliseconds, for an adapter that holds it so (from its ORM's own option, already checked); wins over `ttl`. */
  ttlMs?: number
  /** `swr` in milliseconds, likewise. */
  swrMs?: number
}

/**
 * The engine as the adapters use it: the public `Cache` plus the hooks an
 * adapter needs to answer before its ORM's pipeline and to report origins.
 * Kept off the public types (`src/index.ts` does not export it) so that they
 * can change without a major version.
 */
export interface AdapterCache extends Cache {
  getOrLoad<T>(
    key: string,
    tags: readonly string[],
    loader: () => T | Promise<T>,
    options?: AdapterLoadOptions,
  ): Promise<T>
  /**
   * The value of a fresh in-process entry for `key`, without waiting, or
   * undefined; a hit is counted as `getOrLoad` would count it. For adapters
   * answering before their ORM's pipeline: `key` must determine its tags.
   */
  peek(key: string): { readonly value: unknown; readonly expiresAt: number } | undefined
}

/**
 * Where the cache reads the time (ms since the epoch) for TTLs, lock waits and how long ago the
 * bus was read: `Date` in use, a fake one in tests. Only the tag clock is logical, not time.
 */
export interface Clock {
  now(): number
}
