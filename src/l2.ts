import { decodeEntry, type EntryHeader } from './codec.js'
import type { RedisConnection } from './redis/connection.js'

/** What Redis holds for a key: its entry, if any, and its tags' current versions. */
export interface L2Read {
  readonly entry: { header: EntryHeader; valueBytes: Uint8Array } | undefined
  /** True when bytes were there but were not an entry of ours: they have been deleted. */
  readonly corrupt: boolean
  readonly versions: readonly string[]
}

export class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`ormcache: Redis did not answer within ${ms} ms`)
    this.name = 'RedisTimeoutError'
  }
}

/**
 * The shared tier: entries and tag versions in Redis. Every method throws on
 * a Redis failure or timeout; the cache decides how to carry on without it.
 */
export class L2 {
  readonly #redis: RedisConnection
  readonly #entryPrefix: string
  readonly #tagPrefix: string
  readonly #timeoutMs: number
  readonly #tagTtlMs: number
  readonly #maxEntryBytes: number
  #connected: Promise<void> | undefined

  constructor(redis: RedisConnection, prefix: string, timeoutMs: number, tagTtlMs: number, maxEntryBytes: number) {
    this.#maxEntryBytes = maxEntryBytes
    this.#redis = redis
    this.#entryPrefix = `${prefix}:e:`
    this.#tagPrefix = `{${prefix}}:t:`
    this.#timeoutMs = timeoutMs
    this.#tagTtlMs = tagTtlMs
  }

  /** Reads the entry and captures its tags' versions, creating any that are missing. */
  async read(key: string, tags: readonly string[], freshVersion: string): Promise<L2Read> {
    const entryKey = this.#entryPrefix + key
    const tagKeys = tags.map((tag) => this.#tagPrefix + tag)
    let bytes: Buffer | null
    let versions: string[]
    if (this.#redis.isCluster) {
      // Entries and tags live in different slots: two commands, sent together.
      const [entry, tagVersions] = await this.#timed(() =>
        Promise.all([
          this.#redis.client.getBuffer(entryKey),
          tagKeys.length === 0
            ? Promise.resolve([])
            : this.#redis.commands.ormcacheTagsV1(tagKeys.length, ...tagKeys, freshVersion, this.#tagTtlMs),
        ]),
      )
      bytes = entry
      versions = tagVersions
    } else {
      const reply = await this.#timed(() =>
        this.#redis.commands.ormcacheReadV1Buffer(
          1 + tagKeys.length,
          entryKey,
          ...tagKeys,
          freshVersion,
          this.#tagTtlMs,
        ),
      )
      bytes = reply[0] ?? null
      versions = reply.slice(1).map((version) => String(version))
    }
    if (bytes === null) return { entry: undefined, corrupt: false, versions }
    const entry = decodeEntry(bytes)
    if (entry === undefined || entry.valueBytes.byteLength > this.#maxEntryBytes) {
      await this.delete(key)
      return { entry: undefined, corrupt: true, versions }
    }
    return { entry, corrupt: false, versions }
  }

  /** Stores the entry if its tags still have `versions`; false when an invalidation got there first. */
  async store(key: string, tags: readonly string[], versions: readonly string[], bytes: Buffer, ttlMs: number) {
    const entryKey = this.#entryPrefix + key
    const tagKeys = tags.map((tag) => this.#tagPrefix + tag)
    if (this.#redis.isCluster) {
      // Not atomic across slots: an invalidation may land between the check and
      // the SET. Readers compare versions on every read, so such an entry is never served.
      if (tagKeys.length > 0) {
        const current = await this.#timed(() =>
          this.#redis.commands.ormcacheMatchV1(tagKeys.length, ...tagKeys, ...versions),
        )
        if (current !== 1) return false
      }
      await this.#timed(() => this.#redis.client.set(entryKey, bytes, 'PX', ttlMs))
      return true
    }
    const stored = await this.#timed(() =>
      this.#redis.commands.ormcacheStoreV1(1 + tagKeys.length, entryKey, ...tagKeys, bytes, ttlMs, ...versions),
    )
    return stored === 1
  }

  /** Drops an entry whose bytes turned out not to be one of ours. */
  async delete(key: string): Promise<void> {
    await this.#timed(() => this.#redis.client.del(this.#entryPrefix + key))
  }

  async invalidate(tags: readonly string[], freshVersion: string): Promise<void> {
    if (tags.length === 0) return
    const tagKeys = tags.map((tag) => this.#tagPrefix + tag)
    await this.#timed(() =>
      this.#redis.commands.ormcacheInvalidateV1(tagKeys.length, ...tagKeys, freshVersion, this.#tagTtlMs),
    )
  }

  /** Runs one Redis operation, waiting for a connection still being made, all within the timeout. */
  #timed<T>(operation: () => Promise<T>): Promise<T> {
    const status = this.#redis.client.status
    const run = status === 'ready' ? operation() : this.#afterConnect(status).then(operation)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisTimeoutError(this.#timeoutMs)), this.#timeoutMs)
    })
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer))
  }

  /**
   * Commands sent while the first connection is being made would fail at once
   * (our clients keep no offline queue), so they wait for it; a connection that
   * was lost fails them at once instead, and the cache carries on without Redis.
   */
  #afterConnect(status: string): Promise<void> {
    if (status === 'wait') void this.#redis.client.connect().catch(() => {})
    else if (status !== 'connecting' && status !== 'connect') {
      return Promise.reject(new Error(`ormcache: Redis is not connected (${status})`))
    }
    this.#connected ??= new Promise<void>((resolve) => {
      this.#redis.client.once('ready', () => {
        this.#connected = undefined
        resolve()
      })
    })
    return this.#connected
  }
}
