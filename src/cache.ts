import { randomBytes } from 'node:crypto'
import { decodeValue, type EntryHeader, encodeEntry, encodeValue } from './codec.js'
import { type Duration, parseDuration } from './duration.js'
import { CacheClosedError, InvalidOptionError } from './errors.js'
import { L1 } from './l1.js'
import { L2 } from './l2.js'
import { type CacheOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { connectRedis, type RedisConnection } from './redis/connection.js'
import { type CacheStats, Counters } from './stats.js'
import { TagClock } from './tag-clock.js'

export interface GetOrLoadOptions {
  /** How long this entry is served; overrides the cache's `ttl`. */
  ttl?: Duration
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
  /** Makes every entry carrying one of `tags` a miss; when it resolves, this process's next read loads fresh. */
  invalidate(tags: readonly string[]): Promise<void>
  stats(): CacheStats
  /** Waits for pending writes to Redis and closes the connections the cache opened itself. */
  close(): Promise<void>
}

export function createCache(options?: CacheOptions): Cache {
  return new TieredCache(resolveOptions(options))
}

/** A load under way in this process, which concurrent callers of the same key join. */
interface Flight {
  readonly tags: readonly string[]
  readonly since: number
  readonly result: Promise<LoadResult>
}

interface LoadResult {
  readonly value: unknown
  /** The encoded value when it could be encoded: joiners decode their own copy from it. */
  readonly bytes?: Uint8Array
}

const REPLAY_INTERVAL_MS = 1_000

class TieredCache implements Cache {
  readonly #options: ResolvedOptions
  readonly #counters = new Counters()
  readonly #clock = new TagClock()
  readonly #l1: L1 | undefined
  readonly #redis: RedisConnection | undefined
  readonly #l2: L2 | undefined
  readonly #flights = new Map<string, Flight>()
  /** Writes to Redis nobody waits for (entry stores); `close()` lets them finish. */
  readonly #background = new Set<Promise<unknown>>()
  /** Tags whose invalidation has not reached Redis yet; their entries there are not trusted. */
  readonly #pendingTags = new Set<string>()
  #replayTimer: NodeJS.Timeout | undefined
  #closed = false
  // Tag versions must be unique across processes and restarts: a random id per
  // cache instance, then a counter, costs nothing per call and never repeats.
  readonly #instanceId = randomBytes(9).toString('base64url')
  #versionCounter = 0

  constructor(options: ResolvedOptions) {
    this.#options = options
    this.#l1 = options.l1 === false ? undefined : new L1(options.l1.maxBytes)
    if (options.redis !== undefined) {
      this.#redis = connectRedis(options.redis, options.timeoutMs)
      this.#l2 = new L2(this.#redis, options.prefix, options.timeoutMs, options.tagTtlMs, options.maxEntryBytes)
    }
  }

  async getOrLoad<T>(
    key: string,
    tags: readonly string[],
    loader: () => T | Promise<T>,
    options?: GetOrLoadOptions,
  ): Promise<T> {
    if (this.#closed) throw new CacheClosedError()
    if (typeof key !== 'string' || key.length === 0) throw new InvalidOptionError('key', 'a non-empty string', key)
    if (!Array.isArray(tags)) throw new InvalidOptionError('tags', 'an array of strings', tags)

    const l1Entry = this.#l1?.get(key)
    if (l1Entry !== undefined) {
      if (
        l1Entry.expiresAt > Date.now() &&
        sameTags(l1Entry.tags, tags) &&
        this.#clock.isCurrent(l1Entry.tags, l1Entry.since)
      ) {
        this.#counters.values.l1Hits++
        return decodeValue(l1Entry.valueBytes) as T
      }
      this.#l1?.delete(key)
    }

    const flight = this.#flights.get(key)
    // A load that began before an invalidation of its tags may return pre-write
    // data: a caller arriving after that invalidation must not join it.
    if (flight !== undefined && sameTags(flight.tags, tags) && this.#clock.isCurrent(flight.tags, flight.since)) {
      this.#counters.values.sharedLoads++
      const shared = await flight.result
      return (shared.bytes === undefined ? shared.value : decodeValue(shared.bytes)) as T
    }

    const ttlMs = options?.ttl === undefined ? this.#options.ttlMs : parseDuration(options.ttl, 'ttl', 1)
    validateTags(tags)
    const since = this.#clock.now()
    const result = this.#load(key, tags, loader, ttlMs, since)
    this.#flights.set(key, { tags, since, result })
    try {
      return (await result).value as T
    } finally {
      if (this.#flights.get(key)?.result === result) this.#flights.delete(key)
    }
  }

  async #load(
    key: string,
    tags: readonly string[],
    loader: () => unknown,
    ttlMs: number,
    since: number,
  ): Promise<LoadResult> {
    const startedAt = Date.now()
    // Captured before the loader runs: the entry is valid only while these are current.
    let versions: readonly string[] | undefined
    if (this.#l2 !== undefined && !this.#hasPendingInvalidation(tags)) {
      try {
        const read = await this.#l2.read(key, tags, this.#freshVersion())
        versions = read.versions
        if (read.corrupt) this.#counters.values.corruptEntries++
        const hit = read.entry && this.#servable(read.entry.header, tags, versions)
        if (hit) {
          const value = this.#decodeStored(key, read.entry.valueBytes)
          if (value !== undefined) {
            this.#counters.values.l2Hits++
            this.#storeInL1(key, tags, since, read.entry.valueBytes, read.entry.header.expiresAt)
            return { value: value.decoded, bytes: read.entry.valueBytes }
          }
        } else if (read.entry !== undefined) {
          this.#counters.values.staleRejects++
        }
      } catch {
        this.#counters.values.redisErrors++
        versions = undefined
      }
    }

    this.#counters.values.misses++
    this.#counters.values.loads++
    const value = await loader()
    const loadMs = Date.now() - startedAt
    let bytes: Buffer
    try {
      bytes = encodeValue(value)
    } catch {
      this.#counters.values.unencodable++
      return { value }
    }
    if (bytes.byteLength > this.#options.maxEntryBytes) {
      this.#counters.values.oversized++
      return { value }
    }
    if (!this.#clock.isCurrent(tags, since)) {
      this.#counters.values.staleSetsPrevented++
      return { value, bytes }
    }
    // TTL counts from before the read, so an entry never claims data younger than it is.
    const expiresAt = startedAt + ttlMs
    // With Redis configured but unreachable, other processes' invalidations cannot
    // reach this one, so nothing loaded now may be served from memory later.
    if (this.#l2 === undefined || versions !== undefined) this.#storeInL1(key, tags, since, bytes, expiresAt)
    if (this.#l2 !== undefined && versions !== undefined) {
      const header: EntryHeader = { tags, versions, expiresAt, loadMs }
      this.#inBackground(
        this.#l2.store(key, tags, versions, encodeEntry(header, bytes), ttlMs).then(
          (stored) => {
            if (!stored) this.#counters.values.staleSetsPrevented++
          },
          () => {
            this.#counters.values.redisErrors++
          },
        ),
      )
    }
    return { value, bytes }
  }

  async invalidate(tags: readonly string[]): Promise<void> {
    if (this.#closed) throw new CacheClosedError()
    validateTags(tags)
    if (tags.length === 0) return
    // Locally first and synchronously: this process's L1 and loads under way stop being served at once.
    this.#clock.invalidate(tags)
    this.#counters.values.invalidations += tags.length
    if (this.#l2 === undefined) return
    try {
      await this.#l2.invalidate(tags, this.#freshVersion())
    } catch {
      this.#counters.values.redisErrors++
      for (const tag of tags) this.#pendingTags.add(tag)
      this.#scheduleReplay()
    }
  }

  stats(): CacheStats {
    return {
      ...this.#counters.values,
      pendingInvalidations: this.#pendingTags.size,
      l1Entries: this.#l1?.size ?? 0,
      l1Bytes: this.#l1?.bytes ?? 0,
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#replayTimer)
    await Promise.allSettled([...this.#background])
    this.#l1?.clear()
    if (this.#redis?.owned) {
      await this.#redis.client.quit().catch(() => this.#redis?.client.disconnect())
    }
  }

  #servable(header: EntryHeader, tags: readonly string[], versions: readonly string[]): boolean {
    if (header.expiresAt <= Date.now() || !sameTags(header.tags, tags)) return false
    for (let i = 0; i < versions.length; i++) {
      if (header.versions[i] !== versions[i]) return false
    }
    return true
  }

  /** Decodes a value read from Redis; bytes that do not decode are deleted and count as a miss. */
  #decodeStored(key: string, valueBytes: Uint8Array): { decoded: unknown } | undefined {
    try {
      return { decoded: decodeValue(valueBytes) }
    } catch {
      this.#counters.values.corruptEntries++
      this.#inBackground(this.#l2?.delete(key).catch(() => this.#counters.values.redisErrors++))
      return undefined
    }
  }

  #storeInL1(key: string, tags: readonly string[], since: number, valueBytes: Uint8Array, expiresAt: number): void {
    if (this.#l1 === undefined) return
    const l1TtlMs = this.#options.l1 === false ? undefined : this.#options.l1.ttlMs
    const l1ExpiresAt = l1TtlMs === undefined ? expiresAt : Math.min(expiresAt, Date.now() + l1TtlMs)
    this.#l1.set(key, { valueBytes, tags, since, expiresAt: l1ExpiresAt })
  }

  #hasPendingInvalidation(tags: readonly string[]): boolean {
    if (this.#pendingTags.size === 0) return false
    return tags.some((tag) => this.#pendingTags.has(tag))
  }

  #scheduleReplay(): void {
    if (this.#replayTimer !== undefined || this.#closed) return
    this.#replayTimer = setTimeout(() => {
      this.#replayTimer = undefined
      void this.#replayPending()
    }, REPLAY_INTERVAL_MS)
    this.#replayTimer.unref()
  }

  async #replayPending(): Promise<void> {
    if (this.#l2 === undefined || this.#pendingTags.size === 0) return
    const tags = [...this.#pendingTags]
    try {
      await this.#l2.invalidate(tags, this.#freshVersion())
      for (const tag of tags) this.#pendingTags.delete(tag)
    } catch {
      this.#counters.values.redisErrors++
      this.#scheduleReplay()
    }
  }

  #inBackground(operation: Promise<unknown> | undefined): void {
    if (operation === undefined) return
    this.#background.add(operation)
    void operation.finally(() => this.#background.delete(operation))
  }

  #freshVersion(): string {
    return `${this.#instanceId}.${(++this.#versionCounter).toString(36)}`
  }
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function validateTags(tags: readonly string[]): void {
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string' && tag.length > 0)) {
    throw new InvalidOptionError('tags', 'an array of non-empty strings', tags)
  }
}
