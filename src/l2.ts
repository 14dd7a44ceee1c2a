import { CircuitBreaker, type CircuitBreakerHooks } from './circuit-breaker.js'
import { decodeEntry, type EntryHeader } from './codec.js'
import { RedisUnavailableError } from './errors.js'
import type { RedisConnection } from './redis/connection.js'

/** What Redis holds for a key: its entry, if any, and its tags' current versions. */
export interface L2Read {
  readonly entry: { header: EntryHeader; valueBytes: Uint8Array } | undefined
  /** True when bytes were there but were not an entry of ours: they have been deleted. */
  readonly corrupt: boolean
  readonly versions: readonly string[]
  /** With a lock requested: taken for us, held by another instance, or not tried (the entry looked current). */
  readonly lock: 'acquired' | 'held' | undefined
}

/** Asks `read` to take the key's stampede lock in the same round trip, unless the entry looks current. */
export interface LockRequest {
  readonly token: string
  readonly ttlMs: number
}

export interface L2Options {
  readonly prefix: string
  readonly timeoutMs: number
  readonly tagTtlMs: number
  readonly maxEntryBytes: number
  /** The pub/sub channel the invalidation script publishes on. */
  readonly channel: string
}

/**
 * The shared tier: entries, tag versions and stampede locks in Redis. Every
 * method throws on failure, at once while the circuit is open, else within the
 * timeout; the cache decides how to carry on without Redis.
 */
export class L2 {
  readonly #redis: RedisConnection
  readonly #options: L2Options
  readonly #entryPrefix: string
  readonly #lockPrefix: string
  readonly #tagPrefix: string
  readonly #breaker: CircuitBreaker
  #connected: Promise<void> | undefined

  constructor(redis: RedisConnection, options: L2Options, hooks: Omit<CircuitBreakerHooks, 'probe'>) {
    this.#redis = redis
    this.#options = options
    this.#entryPrefix = `${options.prefix}:e:`
    this.#lockPrefix = `${options.prefix}:l:`
    this.#tagPrefix = `{${options.prefix}}:t:`
    this.#breaker = new CircuitBreaker({
      ...hooks,
      probe: async () => {
        await this.#timed(() => this.#redis.client.ping(), true)
      },
    })
  }

  /** False while the circuit is open: Redis failed and has not been seen healthy since. */
  get available(): boolean {
    return !this.#breaker.isOpen
  }

  /**
   * Reads the entry and captures its tags' versions, creating any that are
   * missing; with `lock`, also takes the stampede lock if the entry is missing
   * or looks invalidated (standalone only: on a cluster the lock is another call).
   */
  async read(key: string, tags: readonly string[], freshVersion: string, lock?: LockRequest): Promise<L2Read> {
    const entryKey = this.#entryPrefix + key
    const tagKeys = this.#tagKeys(tags)
    const { tagTtlMs } = this.#options
    let bytes: Buffer | null
    let versions: string[]
    let lockState: L2Read['lock']
    if (this.#redis.isCluster) {
      // Entries and tags live in different slots: two commands, sent together.
      ;[bytes, versions] = await this.#timed(() =>
        Promise.all([
          this.#redis.client.getBuffer(entryKey),
          this.#redis.commands.ormcacheTagsV1(tagKeys.length, ...tagKeys, freshVersion, tagTtlMs),
        ]),
      )
    } else {
      const reply = await this.#timed(() =>
        this.#redis.commands.ormcacheReadV2Buffer(
          2 + tagKeys.length,
          entryKey,
          this.#lockPrefix + key,
          ...tagKeys,
          freshVersion,
          tagTtlMs,
          lock?.token ?? '',
          lock?.ttlMs ?? 0,
        ),
      )
      const [entryBytes, lockReply, ...tagVersions] = reply
      bytes = Buffer.isBuffer(entryBytes) ? entryBytes : null
      lockState = lockReply === 1 ? 'acquired' : lockReply === 2 ? 'held' : undefined
      versions = tagVersions.map((version) => String(version))
    }
    if (bytes === null) return { entry: undefined, corrupt: false, versions, lock: lockState }
    const entry = decodeEntry(bytes)
    if (entry === undefined || entry.valueBytes.byteLength > this.#options.maxEntryBytes) {
      await this.delete(key)
      return { entry: undefined, corrupt: true, versions, lock: lockState }
    }
    return { entry, corrupt: false, versions, lock: lockState }
  }

  /**
   * Stores the entry if its tags still have `versions`; false when an invalidation got there
   * first. Either way, then releases the stampede lock `lockToken` holds, if any.
   */
  async store(
    key: string,
    tags: readonly string[],
    versions: readonly string[],
    bytes: Buffer,
    ttlMs: number,
    lockToken?: string,
  ): Promise<boolean> {
    const entryKey = this.#entryPrefix + key
    const tagKeys = this.#tagKeys(tags)
    if (this.#redis.isCluster) {
      // Not atomic across slots: an invalidation may land between the check and
      // the SET. Readers compare versions on every read, so such an entry is never served.
      const current = await this.#timed(() =>
        this.#redis.commands.ormcacheMatchV1(tagKeys.length, ...tagKeys, ...versions),
      )
      if (current === 1) await this.#timed(() => this.#redis.client.set(entryKey, bytes, 'PX', ttlMs))
      if (lockToken !== undefined) await this.unlock(key, lockToken)
      return current === 1
    }
    const stored = await this.#timed(() =>
      this.#redis.commands.ormcacheStoreV2(
        2 + tagKeys.length,
        entryKey,
        this.#lockPrefix + key,
        ...tagKeys,
        bytes,
        ttlMs,
        lockToken ?? '',
        ...versions,
      ),
    )
    return stored === 1
  }

  /** Drops an entry whose bytes turned out not to be one of ours. */
  async delete(key: string): Promise<void> {
    await this.#timed(() => this.#redis.client.del(this.#entryPrefix + key))
  }

  /** New versions for `tags` and a bus message to the other instances, in one atomic script. */
  async invalidate(tags: readonly string[], freshVersion: string, message: string, bypassBreaker = false) {
    const tagKeys = this.#tagKeys(tags)
    const { tagTtlMs, channel } = this.#options
    await this.#timed(
      () =>
        this.#redis.commands.ormcacheInvalidateV1(tagKeys.length, ...tagKeys, freshVersion, tagTtlMs, channel, message),
      bypassBreaker,
    )
  }

  /** Takes the key's stampede lock; false when another instance holds it. */
  async lock(key: string, token: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#timed(() => this.#redis.client.set(this.#lockPrefix + key, token, 'PX', ttlMs, 'NX'))
    return reply === 'OK'
  }

  async isLocked(key: string): Promise<boolean> {
    return (await this.#timed(() => this.#redis.client.exists(this.#lockPrefix + key))) === 1
  }

  async unlock(key: string, token: string): Promise<void> {
    await this.#timed(() => this.#redis.commands.ormcacheUnlockV1(1, this.#lockPrefix + key, token))
  }

  close(): void {
    this.#breaker.stop()
  }

  #tagKeys(tags: readonly string[]): string[] {
    return tags.map((tag) => this.#tagPrefix + tag)
  }

  /**
   * Runs one Redis operation within the timeout, waiting for a connection still
   * being made. A connection failure or timeout opens the circuit; an error
   * Redis itself replied with does not, since Redis is evidently there.
   */
  #timed<T>(operation: () => Promise<T>, bypassBreaker = false): Promise<T> {
    if (this.#breaker.isOpen && !bypassBreaker) {
      return Promise.reject(new RedisUnavailableError('circuit open after a failure'))
    }
    const status = this.#redis.client.status
    const run = status === 'ready' ? operation() : this.#afterConnect(status).then(operation)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      // The verdict waits for this turn's socket reads (setImmediate runs after them, timers
      // before): after a stall of the process, a reply that arrived in time still wins the race.
      const expire = () => reject(new RedisUnavailableError(`no answer within ${this.#options.timeoutMs} ms`))
      timer = setTimeout(() => setImmediate(expire), this.#options.timeoutMs)
    })
    return Promise.race([run, timeout]).then(
      (result) => {
        clearTimeout(timer)
        return result
      },
      (error: unknown) => {
        clearTimeout(timer)
        if (!(error instanceof Error && error.name === 'ReplyError')) this.#breaker.trip()
        throw error
      },
    )
  }

  /**
   * Commands sent while the first connection is being made would fail at once
   * (our clients keep no offline queue), so they wait for it; a connection that
   * was lost fails them at once instead, and the cache carries on without Redis.
   */
  #afterConnect(status: string): Promise<void> {
    if (status === 'wait') void this.#redis.client.connect().catch(() => {})
    else if (status !== 'connecting' && status !== 'connect') {
      return Promise.reject(new RedisUnavailableError(`connection ${status}`))
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
