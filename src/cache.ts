import { randomBytes } from 'node:crypto'
import { ALL_TAGS, InvalidationBus } from './bus.js'
import type { AdapterCache, AdapterLoadOptions, Cache, Clock, InvalidateOptions, ServedOrigin } from './cache-api.js'
import { withCallerFrames } from './caller-frames.js'
import { ChangeFeed } from './changes/change-feed.js'
import { decodeValue, type EntryHeader, encodeEntry, encodeValue } from './codec.js'
import { parseDuration } from './duration.js'
import { CacheClosedError, InvalidOptionError } from './errors.js'
import { CHANNELS, publish } from './events.js'
import { type Freshness, needsRefresh } from './freshness.js'
import { L1, type L1Entry } from './l1.js'
import { type HeldLock, L2, type L2Read } from './l2.js'
import { type ClaimSettings, claimLoad } from './load-claim.js'
import { type CacheOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { PendingInvalidations } from './pending-invalidations.js'
import { currentSession } from './read-your-writes.js'
import { connectRedis, type RedisConnection } from './redis/connection.js'
import { warnMemoryOnly } from './redis/memory-only-warning.js'
import { warnWhileUnreachable } from './redis/unreachable-warning.js'
import { RedisRestarts } from './redis-restarts.js'
import { SocketReads } from './socket-reads.js'
import { type CacheStats, Counters } from './stats.js'
import { invalidationTags } from './table-tags.js'
import { TagClock } from './tag-clock.js'
import { canonicalTags, sameTags, validateTags } from './tag-list.js'

export type * from './cache-api.js'
export { REDIS_UNREACHABLE_WARNING } from './redis/unreachable-warning.js'

export function createCache(options?: CacheOptions): Cache {
  return new TieredCache(resolveOptions(options), SYSTEM_CLOCK)
}

// Looked up at each call, so a test that fakes `Date` after creating a cache still moves its time.
const SYSTEM_CLOCK: Clock = { now: () => Date.now() }

/** `createCache` for the adapters: the same engine, typed with its internal hooks. */
export function createAdapterCache(options?: CacheOptions, clock: Clock = SYSTEM_CLOCK): AdapterCache {
  return new TieredCache(resolveOptions(options), clock)
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
  readonly origin: Exclude<ServedOrigin, 'l1'>
  /** When the entry served expires, for one found in Redis. */
  readonly expiresAt?: number
}

/** Everything one `getOrLoad` needs beyond the key, resolved once. */
interface LoadRequest {
  readonly key: string
  readonly tags: readonly string[]
  /** `tags` plus the namespace-wide tag that `invalidateAll` replaces: what an L2 entry depends on. */
  readonly l2Tags: readonly string[]
  readonly loader: () => unknown
  readonly ttlMs: number
  readonly swrMs: number
  /** The tag clock when the request began; anything invalidated after makes its result unstorable. */
  readonly since: number
}

/**
 * Longest this process may go without reading its sockets and still serve L1: beyond it, a hit
 * first lets the event loop read the bus (two turns), so another instance's write is never hidden
 * longer than the bus's delay plus this, even from a loop of hits that never yields.
 */
export const MAX_UNREAD_BUS_MS = 20

class TieredCache implements AdapterCache {
  readonly #options: ResolvedOptions
  readonly #counters = new Counters()
  readonly #clock = new TagClock()
  readonly #l1: L1 | undefined
  readonly #redis: RedisConnection | undefined
  readonly #l2: L2 | undefined
  readonly #bus: InvalidationBus | undefined
  readonly #flights = new Map<string, Flight>()
  #claims: ClaimSettings | undefined
  /** When the bus's socket was last read, for L1 hits in loops that never yield. */
  readonly #socketReads: SocketReads
  /** Keys being refreshed in the background (early refresh, stale-while-revalidate). */
  readonly #refreshing = new Set<string>()
  /** Writes to Redis nobody waits for (entry stores, unlocks); `close()` lets them finish. */
  readonly #background = new Set<Promise<unknown>>()
  /** Tags whose invalidation has not reached Redis yet; their entries there are not trusted. */
  readonly #pending: PendingInvalidations
  #restarts: RedisRestarts | undefined
  readonly #changes: ChangeFeed | undefined
  /** How far this instance has applied the bus: every invalidation up to this position (see read-your-writes.ts). */
  #appliedPosition = 0
  #closed = false
  #closing: Promise<void> | undefined
  // Tag versions and lock tokens must be unique across processes and restarts:
  // a random id per cache instance, then a counter, costs nothing per call.
  readonly #instanceId = randomBytes(9).toString('base64url')
  #sequence = 0

  readonly #time: Clock

  constructor(options: ResolvedOptions, time: Clock) {
    this.#options = options
    this.#time = time
    this.#socketReads = new SocketReads(time)
    this.#l1 = options.l1 === false ? undefined : new L1(options.l1.maxBytes)
    this.#pending = new PendingInvalidations(async (tags) => {
      if (this.#l2 === undefined || this.#bus === undefined) return
      await this.#l2.invalidate(tags, this.#nextId(), this.#bus.encode(tags), true)
    })
    if (options.redisGivenUndefined) warnMemoryOnly()
    if (options.redis !== undefined) {
      const redis = connectRedis(options.redis, options.timeoutMs)
      this.#redis = redis
      if (redis.owned) warnWhileUnreachable(redis.client)
      // Channels are not subject to ioredis keyPrefix; the prefix keeps two apps' buses apart anyway.
      const channel = `${redis.client.options.keyPrefix ?? ''}${options.prefix}:bus`
      this.#l2 = new L2(
        redis,
        { ...options, channel },
        {
          recover: () => this.#pending.replay(),
          onOpen: () => {
            this.#counters.values.circuitOpens++
            publish(CHANNELS.circuit, () => ({ prefix: options.prefix, state: 'open' }))
          },
          onClose: () => {
            // Invalidations from other instances may have been lost while Redis was away.
            this.#clock.invalidateAll()
            publish(CHANNELS.circuit, () => ({ prefix: options.prefix, state: 'closed' }))
          },
        },
      )
      this.#bus = new InvalidationBus(redis.client, channel, this.#instanceId, {
        onInvalidate: (tags) => {
          this.#counters.values.invalidationsReceived++
          if (tags === undefined) this.#clock.invalidateAll()
          else this.#clock.invalidate(tags)
          publish(CHANNELS.invalidate, () => ({ prefix: options.prefix, tags, origin: 'remote' }))
        },
        onPosition: (position) => {
          // In order on the bus; a lower one means Redis lost its counter (restarted empty).
          this.#appliedPosition = position
        },
        onResubscribed: () => {
          this.#clock.invalidateAll()
          // Messages missed while the bus was down: everything is invalid now, so everything published is applied.
          this.#l2?.position().then(
            (position) => {
              // Not the larger of the two: after Redis restarted empty, positions start again from 1.
              this.#appliedPosition = position
            },
            () => undefined,
          )
          publish(CHANNELS.bus, () => ({ prefix: options.prefix, state: 'live' }))
        },
        onDisconnected: () => publish(CHANNELS.bus, () => ({ prefix: options.prefix, state: 'down' })),
      })
      if (!redis.isCluster) {
        this.#restarts = new RedisRestarts(
          redis.client,
          () => this.#clock.invalidateAll(),
          (error) => this.#redisError(error),
        )
      }
      redis.client.on('ready', this.#onRedisReady)
    }
    if (options.changes !== undefined) {
      this.#changes = new ChangeFeed(options.changes, {
        prefix: options.prefix,
        redis: this.#redis,
        timeoutMs: options.timeoutMs,
        invalidate: (tags) => this.#invalidate(tags),
        invalidateAll: () => this.#invalidate([ALL_TAGS]),
        settled: () => this.#pending.size === 0,
      })
    }
  }

  async getOrLoad<T>(
    key: string,
    tags: readonly string[],
    loader: () => T | Promise<T>,
    options?: AdapterLoadOptions,
  ): Promise<T> {
    if (this.#closed) throw new CacheClosedError()
    if (typeof key !== 'string' || key.length === 0) throw new InvalidOptionError('key', 'a non-empty string', key)
    if (!Array.isArray(tags)) throw new InvalidOptionError('tags', 'an array of strings', tags)
    // An entry is stored under one tag list: the same tags in another order or twice are the same entry.
    tags = canonicalTags(tags)

    let memoryTrusted = this.#memoryTrusted()
    let l1Entry = memoryTrusted ? this.#l1?.get(key) : undefined
    if (l1Entry !== undefined && !this.#busRead(this.#time.now())) {
      // Another instance's invalidation may be waiting in the bus's socket: let it be read first.
      await this.#socketReads.nextRead()
      if (this.#closed) throw new CacheClosedError()
      memoryTrusted = this.#memoryTrusted()
      l1Entry = memoryTrusted ? this.#l1?.get(key) : undefined
    }
    if (l1Entry !== undefined) {
      const now = this.#time.now()
      if (now < l1Entry.staleUntil && sameTags(l1Entry.tags, tags) && this.#clock.isCurrent(tags, l1Entry.since)) {
        this.#counters.values.l1Hits++
        publish(CHANNELS.hit, () => ({ prefix: this.#options.prefix, key, tier: 'l1' }))
        if (this.#needsRefresh(l1Entry, now)) this.#refreshInBackground(key, tags, loader, options)
        const stale = now >= l1Entry.expiresAt
        if (stale) this.#counters.values.staleServed++
        options?.onServed?.(stale ? 'stale' : 'l1', l1Entry.expiresAt)
        return decodeValue(l1Entry.valueBytes) as T
      }
      this.#l1?.delete(key)
    }

    let flight = this.#flights.get(key)
    if (flight !== undefined && !this.#busRead(this.#time.now())) {
      // A load under way is this process's memory too: an invalidation waiting unread may be of a
      // write that returned after the load read the database and before this caller arrived.
      await this.#socketReads.nextRead()
      if (this.#closed) throw new CacheClosedError()
      flight = this.#flights.get(key)
    }
    // A load that began before an invalidation of its tags may return pre-write data: a caller
    // arriving after that invalidation must not join it, nor one arriving while invalidations may
    // be lost (the bus down), whose arrival cannot be told.
    if (
      flight !== undefined &&
      this.#busLive() &&
      !this.#behindSession() &&
      sameTags(flight.tags, tags) &&
      this.#clock.isCurrent(flight.tags, flight.since)
    ) {
      this.#counters.values.sharedLoads++
      let shared: LoadResult
      try {
        shared = await flight.result
      } catch (error) {
        throw withCallerFrames(error)
      }
      options?.onServed?.(shared.origin, shared.expiresAt)
      return (shared.bytes === undefined ? shared.value : decodeValue(shared.bytes)) as T
    }
    const busStarting = this.#l1 === undefined ? undefined : this.#bus?.starting
    if (busStarting !== undefined) {
      // A cold process: what it loads before its bus is live may not be kept in memory (a write
      // published meanwhile would go unheard), so its first read waits for the bus, within the
      // timeout, and the next read of the key is an L1 hit.
      await this.#withinTimeout(busStarting)
      if (this.#closed) throw new CacheClosedError()
    } else if (!memoryTrusted && this.#l1 !== undefined) this.#counters.values.bypassed++
    let result: LoadResult
    try {
      result = await this.#fly(this.#request(key, tags, loader, options))
    } catch (error) {
      throw withCallerFrames(error)
    }
    options?.onServed?.(result.origin, result.expiresAt)
    return result.value as T
  }

  /**
   * A fresh L1 hit or nothing, at once: for an adapter that can answer before
   * its ORM's own query pipeline runs. Nothing is loaded, refreshed or awaited;
   * anything short of a fresh, current entry is left to `getOrLoad`. Only for
   * keys that determine their tags (as when both are derived from one query):
   * the tags checked are the entry's own.
   */
  peek(key: string): { readonly value: unknown; readonly expiresAt: number } | undefined {
    if (this.#closed || !this.#memoryTrusted()) return undefined
    const entry = this.#l1?.get(key)
    if (entry === undefined) return undefined
    const now = this.#time.now()
    if (
      !this.#busRead(now) ||
      now >= entry.expiresAt ||
      !this.#clock.isCurrent(entry.tags, entry.since) ||
      this.#needsRefresh(entry, now)
    ) {
      return undefined
    }
    this.#counters.values.l1Hits++
    publish(CHANNELS.hit, () => ({ prefix: this.#options.prefix, key, tier: 'l1' }))
    return { value: decodeValue(entry.valueBytes), expiresAt: entry.expiresAt }
  }

  async invalidate(target: InvalidateOptions | readonly string[]): Promise<void> {
    const tags = Array.isArray(target) ? target : invalidationTags(target)
    validateTags(tags)
    if (tags.length === 0) return
    await this.#invalidate(tags)
  }

  async invalidateAll(): Promise<void> {
    await this.#invalidate([ALL_TAGS])
  }

  stats(): CacheStats {
    return {
      ...this.#counters.values,
      pendingInvalidations: this.#pending.size,
      redis: this.#l2 === undefined ? 'none' : this.#l2.available ? 'up' : 'down',
      bus: this.#bus === undefined ? 'none' : this.#bus.live ? 'live' : 'down',
      l1Entries: this.#l1?.size ?? 0,
      l1Bytes: this.#l1?.bytes ?? 0,
      changes: this.#changes?.stats(),
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    // The cache's sockets never hold the process (see releaseProcessHold); while it closes, this
    // does, so the caller's code after `await close()` runs even when nothing else is left.
    const hold = setInterval(() => undefined, 60_000)
    try {
      await this.#closeEverything()
    } finally {
      clearInterval(hold)
    }
  }

  async #closeEverything(): Promise<void> {
    // First, while the cache still takes its invalidations: the lease passes to a standby.
    await this.#changes?.stop()
    this.#closed = true
    this.#pending.stop()
    this.#socketReads.stop()
    // Nothing resends them after this: invalidations Redis missed get one last try.
    await this.#pending.replay().catch((error) => this.#redisError(error))
    this.#restarts?.stop()
    // The client may be the app's, and outlive this cache.
    this.#redis?.client.off('ready', this.#onRedisReady)
    this.#l2?.close()
    // Loads under way are the callers' to await; a stuck loader must not hang close().
    await Promise.allSettled([...this.#background])
    this.#l1?.clear()
    await this.#bus?.close()
    if (this.#redis?.owned) {
      const { client } = this.#redis
      await client.quit().catch(() => client.disconnect())
    }
  }

  #request(key: string, tags: readonly string[], loader: () => unknown, options?: AdapterLoadOptions): LoadRequest {
    validateTags(tags)
    return {
      key,
      tags,
      l2Tags: [...tags, ALL_TAGS],
      loader,
      ttlMs:
        options?.ttlMs ?? (options?.ttl === undefined ? this.#options.ttlMs : parseDuration(options.ttl, 'ttl', 1)),
      swrMs: options?.swrMs ?? (options?.swr === undefined ? this.#options.swrMs : parseDuration(options.swr, 'swr')),
      since: this.#clock.now(),
    }
  }

  /**
   * Runs `#load` as the key's flight, which concurrent callers in this process join. The flight
   * lands after an `await`, not in a `then` of its own: a second reaction on the load's promise
   * would end the async stack trace of a failing loader there, short of the caller's frames.
   */
  async #fly(request: LoadRequest): Promise<LoadResult> {
    const result = this.#load(request, false)
    const flight: Flight = { tags: request.tags, since: request.since, result }
    this.#flights.set(request.key, flight)
    try {
      return await result
    } finally {
      if (this.#flights.get(request.key) === flight) this.#flights.delete(request.key)
    }
  }

  async #load(request: LoadRequest, refreshing: boolean): Promise<LoadResult> {
    const { key } = request
    const startedAt = this.#time.now()
    const l2 = this.#l2?.available && !this.#pending.covers(request.tags) ? this.#l2 : undefined
    if (this.#l2 !== undefined && l2 === undefined) this.#counters.values.bypassed++
    // Captured before the loader runs: the entry is valid only while these are current.
    let versions: readonly string[] | undefined
    let lock: HeldLock | undefined
    if (l2 !== undefined) {
      try {
        const claim = await claimLoad(this.#claimSettings(l2), key, request.l2Tags, refreshing, (read) =>
          this.#serveFromL2(request, read, refreshing),
        )
        if (claim.kind === 'hit') return claim.hit
        // Another instance is refreshing this entry: this process keeps serving what it has.
        if (claim.kind === 'skip') return { value: undefined, origin: 'loader' }
        versions = claim.versions
        lock = claim.lock
      } catch (error) {
        this.#redisError(error)
        versions = undefined
      }
    }

    this.#counters.values.misses++
    publish(CHANNELS.miss, () => ({ prefix: this.#options.prefix, key }))
    let value: unknown
    this.#counters.values.loads++
    const loaderStartedAt = performance.now()
    try {
      // Awaited here, not in a helper: every async function between the loader and the caller is a
      // frame of a failing query's stack trace, and Node keeps ten.
      value = await request.loader()
    } catch (error) {
      if (lock !== undefined) this.#unlockInBackground(key, lock)
      throw error
    }
    publish(CHANNELS.load, () => ({
      prefix: this.#options.prefix,
      key,
      durationMs: performance.now() - loaderStartedAt,
    }))
    const loadMs = this.#time.now() - startedAt
    const bytes = this.#encode(value)
    if (bytes !== undefined) {
      // TTL counts from before the read, so an entry never claims data younger than it is.
      const expiresAt = startedAt + request.ttlMs
      const freshness = { expiresAt, staleUntil: expiresAt + request.swrMs, loadMs }
      // With Redis configured but unreachable, other instances' invalidations cannot
      // reach this one, so nothing loaded now may be served from memory later.
      const inMemory =
        (this.#l2 === undefined || versions !== undefined) && this.#stillCurrent(request)
          ? this.#storeInL1(request, bytes, freshness)
          : undefined
      // Redis refuses the entry if a tag's version moved on since `versions` were read.
      if (l2 !== undefined && versions !== undefined && !this.#pending.covers(request.tags)) {
        const header: EntryHeader = { tags: request.l2Tags, versions, expiresAt, loadMs }
        this.#storeInL2(l2, request, versions, encodeEntry(header, bytes), lock, inMemory)
        return { value, bytes, origin: 'loader' }
      }
    }
    if (lock !== undefined) this.#unlockInBackground(key, lock)
    return bytes === undefined ? { value, origin: 'loader' } : { value, bytes, origin: 'loader' }
  }

  /** A valid entry from Redis, or `undefined` when it is missing, invalidated, expired or unreadable. */
  #serveFromL2(request: LoadRequest, read: L2Read, refreshing: boolean): LoadResult | undefined {
    if (read.corrupt) this.#counters.values.corruptEntries++
    const { entry } = read
    if (entry === undefined) return undefined
    const { header } = entry
    if (!sameTags(header.tags, request.l2Tags) || !sameTags(header.versions, read.versions)) {
      this.#counters.values.staleRejects++
      publish(CHANNELS.staleReject, () => ({ prefix: this.#options.prefix, key: request.key }))
      return undefined
    }
    const now = this.#time.now()
    const freshness = {
      expiresAt: header.expiresAt,
      staleUntil: header.expiresAt + request.swrMs,
      loadMs: header.loadMs,
    }
    if (now >= freshness.staleUntil) return undefined
    // A refresh takes the entry only if another instance already renewed it.
    if (refreshing && this.#needsRefresh(freshness, now)) return undefined
    let value: unknown
    try {
      value = decodeValue(entry.valueBytes)
    } catch {
      this.#counters.values.corruptEntries++
      this.#inBackground(this.#l2?.delete(request.key).catch((error) => this.#redisError(error)))
      return undefined
    }
    this.#counters.values.l2Hits++
    publish(CHANNELS.hit, () => ({ prefix: this.#options.prefix, key: request.key, tier: 'l2' }))
    this.#storeInL1(request, entry.valueBytes, freshness)
    if (!refreshing && this.#needsRefresh(freshness, now)) {
      this.#refreshInBackground(request.key, request.tags, request.loader, {
        ttlMs: request.ttlMs,
        swrMs: request.swrMs,
      })
    }
    const stale = now >= freshness.expiresAt
    if (stale) this.#counters.values.staleServed++
    return { value, bytes: entry.valueBytes, origin: stale ? 'stale' : 'l2', expiresAt: freshness.expiresAt }
  }

  #claimSettings(l2: L2): ClaimSettings {
    this.#claims ??= {
      l2,
      lock: this.#options.lock,
      nextId: () => this.#nextId(),
      now: () => this.#time.now(),
      closed: () => this.#closed,
      watchFill: (key) => (l2.announcesFills ? this.#bus?.watchFill(l2.fillChannel(key)) : undefined),
      waitStarted: () => {
        this.#counters.values.lockWaits++
      },
      waitEnded: (key, outcome, waitedMs) => {
        if (outcome === 'timeout') this.#counters.values.lockTimeouts++
        publish(CHANNELS.lockWait, () => ({ prefix: this.#options.prefix, key, outcome, waitedMs }))
      },
    }
    return this.#claims
  }

  #encode(value: unknown): Buffer | undefined {
    let bytes: Buffer
    try {
      bytes = encodeValue(value)
    } catch {
      this.#counters.values.unencodable++
      return undefined
    }
    if (bytes.byteLength > this.#options.maxEntryBytes) {
      this.#counters.values.oversized++
      return undefined
    }
    return bytes
  }

  #stillCurrent(request: LoadRequest): boolean {
    if (this.#clock.isCurrent(request.tags, request.since)) return true
    this.#counters.values.staleSetsPrevented++
    return false
  }

  #storeInL1(request: LoadRequest, valueBytes: Uint8Array, freshness: Freshness): L1Entry | undefined {
    if (this.#l1 === undefined) return undefined
    const l1TtlMs = this.#options.l1 === false ? undefined : this.#options.l1.ttlMs
    const cap = l1TtlMs === undefined ? Number.POSITIVE_INFINITY : this.#time.now() + l1TtlMs
    return this.#l1.set(request.key, {
      valueBytes,
      tags: request.tags,
      since: request.since,
      expiresAt: Math.min(freshness.expiresAt, cap),
      staleUntil: Math.min(freshness.staleUntil, cap),
      loadMs: freshness.loadMs,
    })
  }

  /**
   * Stores in Redis after the caller has its value and releases the lock for
   * the waiters, in one round trip. A refusal means another instance invalidated a tag during the
   * load; its bus message may still be on the way, so the L1 copy goes now.
   */
  #storeInL2(
    l2: L2,
    request: LoadRequest,
    versions: readonly string[],
    entry: Buffer,
    lock: HeldLock | undefined,
    inMemory: L1Entry | undefined,
  ) {
    const store = async () => {
      try {
        const ttlMs = request.ttlMs + request.swrMs
        const stored = await l2.store(request.key, request.l2Tags, versions, entry, ttlMs, lock)
        if (!stored) {
          this.#counters.values.staleSetsPrevented++
          if (inMemory !== undefined) this.#l1?.deleteIfSame(request.key, inMemory)
        }
      } catch (error) {
        this.#redisError(error)
        // The lock may still be ours; else its TTL ends it.
        if (lock !== undefined) await l2.unlock(request.key, lock).catch(() => {})
      }
    }
    // After the caller has resumed with its value: sending the script is a socket write, tens of
    // µs that would otherwise sit between the loader's result and the caller.
    this.#inBackground(new Promise<void>((resolve) => setImmediate(resolve)).then(store))
  }

  #unlockInBackground(key: string, lock: HeldLock): void {
    this.#inBackground(this.#l2?.unlock(key, lock).catch((error) => this.#redisError(error)))
  }

  #needsRefresh(freshness: Freshness, now: number): boolean {
    return needsRefresh(freshness, now, this.#options.earlyRefreshBeta)
  }

  /**
   * Reloads an entry that is still being served. Not a flight other callers
   * join: they keep getting the entry until the refresh lands.
   */
  #refreshInBackground(key: string, tags: readonly string[], loader: () => unknown, options?: AdapterLoadOptions) {
    if (this.#refreshing.has(key) || this.#flights.has(key) || this.#closed) return
    this.#refreshing.add(key)
    this.#counters.values.refreshes++
    // Failures are the next caller's to see; a refresh never throws into a hit.
    const refresh = this.#load(this.#request(key, tags, loader, options), true).catch(() => undefined)
    this.#inBackground(refresh.finally(() => this.#refreshing.delete(key)))
  }

  async #invalidate(tags: readonly string[]): Promise<void> {
    if (this.#closed) throw new CacheClosedError()
    // Locally first and synchronously: this process's L1 and loads under way stop being served at once.
    if (tags.includes(ALL_TAGS)) this.#clock.invalidateAll()
    else this.#clock.invalidate(tags)
    this.#counters.values.invalidations += tags.length
    publish(CHANNELS.invalidate, () => ({
      prefix: this.#options.prefix,
      tags: tags.includes(ALL_TAGS) ? undefined : tags,
      origin: 'local',
    }))
    if (this.#l2 === undefined || this.#bus === undefined) return
    try {
      // Past an open circuit: other instances may already trust a Redis this one has given up on,
      // and until the replay they would serve the entries this write made stale. A Redis that is
      // really gone fails at once (no offline queue); one that stalls costs the write the timeout.
      const position = await this.#l2.invalidate(tags, this.#nextId(), this.#bus.encode(tags), true)
      currentSession()?.wrote(this.#options.prefix, position, Date.now())
    } catch (error) {
      this.#redisError(error)
      this.#pending.keep(tags)
    }
  }

  /** Waits for `promise`, or the Redis timeout if that comes first. */
  async #withinTimeout(promise: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#options.timeoutMs)
    })
    await Promise.race([promise, timeout])
    clearTimeout(timer)
  }

  /** True when no other instance's invalidation can have waited unread longer than the bound. */
  #busRead(now: number): boolean {
    return this.#bus === undefined || this.#socketReads.readWithin(now, MAX_UNREAD_BUS_MS)
  }

  /** L1 may serve only while every other instance's invalidations can reach it. */
  #memoryTrusted(): boolean {
    return this.#l2 === undefined || (this.#l2.available && this.#busLive() && !this.#behindSession())
  }

  /** True when the caller's session wrote (here or elsewhere) past what this instance has applied from the bus. */
  #behindSession(): boolean {
    const awaited = currentSession()?.awaited(this.#options.prefix, Date.now())
    return awaited !== undefined && awaited > this.#appliedPosition
  }

  /** True while other instances' invalidations can reach this one: no Redis, or the bus subscribed. */
  #busLive(): boolean {
    return this.#bus === undefined || this.#bus.live
  }

  /** A connection back may be the first chance to write what could not be written without it. */
  readonly #onRedisReady = () => {
    if (this.#pending.size > 0) this.#pending.replay().catch(() => this.#pending.retryLater())
  }

  #redisError(error: unknown): void {
    this.#counters.values.redisErrors++
    publish(CHANNELS.redisError, () => ({ prefix: this.#options.prefix, error }))
  }

  #inBackground(operation: Promise<unknown> | undefined): void {
    if (operation === undefined) return
    this.#background.add(operation)
    void operation.finally(() => this.#background.delete(operation))
  }

  #nextId(): string {
    return `${this.#instanceId}.${(++this.#sequence).toString(36)}`
  }
}
