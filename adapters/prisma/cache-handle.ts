import { type AdapterCache, type AdapterLoadOptions, createAdapterCache } from '../../src/cache.js'
import type { CacheOptions } from '../../src/options.js'
import type { CacheStats } from '../../src/stats.js'

/**
 * The engine behind one extended client. Prisma lets a client be used again
 * after `$disconnect` (it reconnects on the next query), so the cache follows
 * suit: `$disconnect` closes it (and the Redis connections it opened), and the
 * next operation opens a fresh one rather than failing with "cache closed".
 */
export class CacheHandle {
  readonly #options: CacheOptions
  #cache: AdapterCache
  #closed = false

  constructor(options: CacheOptions) {
    this.#options = options
    this.#cache = createAdapterCache(options)
  }

  getOrLoad<T>(
    key: string,
    tags: readonly string[],
    loader: () => Promise<T>,
    options?: AdapterLoadOptions,
  ): Promise<T> {
    return this.#open().getOrLoad(key, tags, loader, options)
  }

  /** A fresh L1 hit, or undefined (see `AdapterCache.peek`); never reopens a closed cache. */
  peek(key: string): { readonly value: unknown; readonly expiresAt: number } | undefined {
    return this.#closed ? undefined : this.#cache.peek(key)
  }

  invalidate(tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return Promise.resolve()
    return this.#open().invalidate({ tags })
  }

  invalidateAll(): Promise<void> {
    return this.#open().invalidateAll()
  }

  /** Invalidates `tags` again after `ms`, unless the client has been disconnected by then. */
  invalidateLater(tags: readonly string[], ms: number): void {
    const timer = setTimeout(() => {
      if (!this.#closed) this.#cache.invalidate({ tags }).catch(() => {})
    }, ms)
    // Must not keep the process alive: TTLs bound what a missed re-invalidation leaves.
    timer.unref()
  }

  /** Counters of the current cache (of the last one, after `close`). */
  stats(): CacheStats {
    return this.#cache.stats()
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#cache.close()
  }

  #open(): AdapterCache {
    if (this.#closed) {
      this.#cache = createAdapterCache(this.#options)
      this.#closed = false
    }
    return this.#cache
  }
}
