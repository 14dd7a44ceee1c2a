import { AsyncLocalStorage } from 'node:async_hooks'
import type { ServedOrigin } from '../../src/cache.js'
import { InvalidOptionError, InvalidUsageError } from '../../src/errors.js'

/**
 * Where one read's result came from: this process's memory (`'l1'`), Redis
 * (`'l2'`), an entry past its TTL served while it refreshes (`'stale'`, with
 * `swr`), the database on a miss (`'database'`), or the database with the cache
 * not consulted at all (`'bypass'`: `cache: false`, a transaction, a model set to
 * `false`, `queries: 'explicit'` without a `cache` option, a view).
 */
export type CacheOrigin = 'l1' | 'l2' | 'stale' | 'database' | 'bypass'

export interface CacheInfo {
  readonly origin: CacheOrigin
  /** The entry's key (as in the `ormcache:*` diagnostics channels); absent on `'bypass'`. */
  readonly key?: string
  /** Milliseconds until the entry served expires, negative once past its TTL; only when served from the cache. */
  readonly ttl?: number
}

/** What `prisma.$cache.withInfo` resolves to. */
export interface WithCacheInfo<T> {
  readonly data: T
  readonly info: CacheInfo
}

/**
 * Collects the origin of the reads made inside `withInfo`. An async-context
 * store rather than a "last origin" field: concurrent requests each see their own.
 */
export class CacheInfoRecorder {
  readonly #storage = new AsyncLocalStorage<CacheInfo[]>()

  async withInfo<T>(read: () => PromiseLike<T>): Promise<WithCacheInfo<T>> {
    if (typeof read !== 'function') {
      throw new InvalidOptionError(
        'read',
        'a function that makes one read: withInfo(() => prisma.user.findMany())',
        read,
      )
    }
    const seen: CacheInfo[] = []
    // Prisma's queries start when awaited, so the await must happen inside the store.
    const data = await this.#storage.run(seen, async () => await read())
    const [info] = seen
    if (info === undefined || seen.length > 1) {
      throw new InvalidUsageError(
        `$cache.withInfo reports on exactly one read (a model read or $cache.queryRaw); this callback made ${seen.length}: call withInfo once per read`,
      )
    }
    return { data, info }
  }

  /** Where the read being made reports to, when inside `withInfo`; checked once per read. */
  current(): CacheInfo[] | undefined {
    return this.#storage.getStore()
  }
}

/** A callback for the engine's `onServed` that records into `seen`. */
export function recordServed(seen: CacheInfo[], key: string) {
  return (origin: ServedOrigin, expiresAt: number | undefined): void => {
    if (origin === 'loader') seen.push({ origin: 'database', key })
    else seen.push({ origin, key, ...(expiresAt !== undefined && { ttl: expiresAt - Date.now() }) })
  }
}

export const BYPASS: CacheInfo = Object.freeze({ origin: 'bypass' })
