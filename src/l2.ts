import type { Socket } from 'node:net'
import type { Redis } from 'ioredis'
import { CircuitBreaker, type CircuitBreakerHooks } from './circuit-breaker.js'
import { decodeEntry, type EntryHeader } from './codec.js'
import { RedisUnavailableError } from './errors.js'
import type { RedisConnection } from './redis/connection.js'
import { FILL_MARKER_PREFIX } from './redis/scripts.js'

/** What Redis holds for a key: its entry, if any, and its tags' current versions. */
export interface L2Read {
  readonly entry: { header: EntryHeader; valueBytes: Uint8Array } | undefined
  /** True when bytes were there but were not an entry of ours: they have been deleted. */
  readonly corrupt: boolean
  /** The tags' current versions, in the order asked; missing tags were given new ones. */
  readonly versions: readonly string[]
  /**
   * The key's fill lock: taken for us (the entry was missing and a lock was asked for), held by
   * another instance (it is loading the entry), or neither (an entry is there, or none was asked).
   */
  readonly fill: 'acquired' | 'held' | undefined
}

/** Asks a read to take the key's fill lock if its entry is missing. */
export interface FillRequest {
  readonly token: string
  readonly ttlMs: number
}

/** A lock an instance holds while it loads a key: the fill lock in the entry's key, or the refresh lock beside it. */
export interface HeldLock {
  readonly kind: 'fill' | 'refresh'
  readonly token: string
}

export interface L2Options {
  readonly prefix: string
  readonly timeoutMs: number
  readonly tagTtlMs: number
  readonly maxEntryBytes: number
  /** The pub/sub channel the invalidation script publishes on; fill channels are named after it. */
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
  readonly #positionKey: string
  readonly #breaker: CircuitBreaker
  #connected: Promise<void> | undefined
  /** Whether Redis takes `SET … NX GET` (7.0 and later), which lets a read create tags and take a fill lock. */
  #setGet = true

  constructor(redis: RedisConnection, options: L2Options, hooks: Omit<CircuitBreakerHooks, 'probe'>) {
    this.#redis = redis
    this.#options = options
    this.#entryPrefix = `${options.prefix}:e:`
    this.#lockPrefix = `${options.prefix}:l:`
    this.#tagPrefix = `{${options.prefix}}:t:`
    // In the tags' slot: INVALIDATE increments it in the same script.
    this.#positionKey = `{${options.prefix}}:position`
    this.#breaker = new CircuitBreaker({
      ...hooks,
      probe: async () => {
        await this.#timed(() => this.#redis.client.ping(), true)
      },
    })
  }

  /**
   * True when a fill lock's end is announced on the key's fill channel (`fillChannel`), so a
   * waiter can listen instead of polling. Not on a cluster, whose store is a plain SET after a
   * check, and whose pub/sub would carry every announcement to every node.
   */
  get announcesFills(): boolean {
    return !this.#redis.isCluster
  }

  fillChannel(key: string): string {
    return `${this.#options.channel}:fill:${key}`
  }

  /** False while the circuit is open: Redis failed and has not been seen healthy since. */
  get available(): boolean {
    return !this.#breaker.isOpen
  }

  /**
   * Reads the entry and its tags' current versions, creating versions for missing tags, in one
   * round trip of plain commands sent in one socket write: the entry first, then the tags, so
   * an entry whose versions match was not invalidated when it was read (versions only ever move
   * to new unique ids). With `fillToken`, a missing entry is replaced by our fill lock in the same
   * command (`SET … NX GET`, Redis 7.0 and later).
   */
  async read(key: string, tags: readonly string[], freshVersion: string, fill?: FillRequest): Promise<L2Read> {
    const entryKey = this.#entryPrefix + key
    const tagKeys = this.#tagKeys(tags)
    const fillLock =
      fill === undefined || !this.#setGet ? undefined : { value: FILL_MARKER_PREFIX + fill.token, ttlMs: fill.ttlMs }
    let reply: [Buffer | null, ...(string | null)[]]
    try {
      reply = await this.#timed(() => this.#sendRead(entryKey, tagKeys, freshVersion, fillLock))
    } catch (error) {
      // Redis before 7.0 refuses NX with GET: read with plain commands from now on.
      if (!(this.#setGet && isSyntaxError(error))) throw error
      this.#setGet = false
      return this.read(key, tags, freshVersion, fill)
    }
    const [bytes, ...tagReplies] = reply
    // `SET … NX GET` answers nil where it created the tag with the version we gave it; a plain
    // read of a missing tag (Redis before 7.0) needs a script to create it.
    const versions = this.#setGet
      ? tagReplies.map((version, index) => version ?? `${freshVersion}.${index}`)
      : tagReplies.every((version) => version !== null)
        ? (tagReplies as string[])
        : await this.#timed(() =>
            this.#redis.commands.ormcacheTagsV2(tagKeys.length, ...tagKeys, freshVersion, this.#options.tagTtlMs),
          )
    if (bytes === null) {
      return { entry: undefined, corrupt: false, versions, fill: fillLock === undefined ? undefined : 'acquired' }
    }
    if (isFillLock(bytes)) return { entry: undefined, corrupt: false, versions, fill: 'held' }
    const entry = decodeEntry(bytes)
    if (entry === undefined || entry.valueBytes.byteLength > this.#options.maxEntryBytes) {
      await this.delete(key)
      return { entry: undefined, corrupt: true, versions, fill: undefined }
    }
    return { entry, corrupt: false, versions, fill: undefined }
  }

  /**
   * Takes the key's fill lock if its entry is missing or not current at `versions`: 1 round trip,
   * for a read that found a stale entry (or a Redis before 7.0, whose reads cannot take it).
   * `current` means Redis found the entry current after all: read it again, or load unlocked.
   */
  async fill(
    key: string,
    token: string,
    ttlMs: number,
    versions: readonly string[],
  ): Promise<'acquired' | 'held' | 'current'> {
    const reply = await this.#timed(() =>
      this.#redis.commands.ormcacheFillV1(1, this.#entryPrefix + key, FILL_MARKER_PREFIX + token, ttlMs, ...versions),
    )
    return reply === 1 ? 'acquired' : reply === 2 ? 'held' : 'current'
  }

  /** Takes the refresh lock of a key whose entry others keep serving meanwhile; false when another instance holds it. */
  async lockRefresh(key: string, token: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#timed(() => this.#redis.client.set(this.#lockPrefix + key, token, 'PX', ttlMs, 'NX'))
    return reply === 'OK'
  }

  /**
   * Stores the entry if its tags still have `versions`; false when an invalidation got there
   * first. Releases `lock` either way: a stored entry replaces the fill lock.
   */
  async store(
    key: string,
    tags: readonly string[],
    versions: readonly string[],
    bytes: Buffer,
    ttlMs: number,
    lock?: HeldLock,
  ): Promise<boolean> {
    const entryKey = this.#entryPrefix + key
    const tagKeys = this.#tagKeys(tags)
    const { tagTtlMs } = this.#options
    if (this.#redis.isCluster) {
      // Not atomic across slots: an invalidation may land between the check and
      // the SET. Readers compare versions on every read, so such an entry is never served.
      const current = await this.#timed(() =>
        this.#redis.commands.ormcacheMatchV2(tagKeys.length, ...tagKeys, ttlMs, tagTtlMs, ...versions),
      )
      if (current === 1) await this.#timed(() => this.#redis.client.set(entryKey, bytes, 'PX', ttlMs))
      if (lock !== undefined && (current !== 1 || lock.kind === 'refresh')) await this.unlock(key, lock)
      return current === 1
    }
    const stored = await this.#timed(() =>
      this.#redis.commands.ormcacheStoreV4(
        2 + tagKeys.length,
        entryKey,
        this.#lockPrefix + key,
        ...tagKeys,
        bytes,
        ttlMs,
        lock?.kind === 'fill' ? FILL_MARKER_PREFIX + lock.token : '',
        lock?.kind === 'refresh' ? lock.token : '',
        tagTtlMs,
        this.fillChannel(key),
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
  /** Invalidates `tags` and publishes `message`; resolves to the invalidation's position on the bus. */
  async invalidate(tags: readonly string[], freshVersion: string, message: string, bypassBreaker = false) {
    const keys = [this.#positionKey, ...this.#tagKeys(tags)]
    const { tagTtlMs, channel } = this.#options
    return await this.#timed(
      () => this.#redis.commands.ormcacheInvalidateV2(keys.length, ...keys, freshVersion, tagTtlMs, channel, message),
      bypassBreaker,
    )
  }

  /** The bus position now: every invalidation published so far is at or before it. */
  async position(): Promise<number> {
    return Number((await this.#timed(() => this.#redis.client.get(this.#positionKey))) ?? 0)
  }

  /** Releases a lock this instance holds, if it still does. */
  async unlock(key: string, lock: HeldLock): Promise<void> {
    const [lockKey, value, channel] =
      lock.kind === 'fill'
        ? [this.#entryPrefix + key, FILL_MARKER_PREFIX + lock.token, this.announcesFills ? this.fillChannel(key) : '']
        : [this.#lockPrefix + key, lock.token, '']
    await this.#timed(() => this.#redis.commands.ormcacheUnlockV2(1, lockKey, value, channel))
  }

  close(): void {
    this.#breaker.stop()
  }

  /**
   * The read's commands: on standalone Redis in one socket write (one system call, where each
   * write costs tens of µs on a VM); on a cluster each to its node. Each tag is `SET … NX GET`,
   * which returns its version or, for a missing tag, creates a fresh one in the same step; the
   * entry likewise, with a fill lock to set.
   */
  #sendRead(
    entryKey: string,
    tagKeys: readonly string[],
    freshVersion: string,
    fillLock: { value: string; ttlMs: number } | undefined,
  ): Promise<[Buffer | null, ...(string | null)[]]> {
    const { client } = this.#redis
    const { tagTtlMs } = this.#options
    const socket = this.#redis.isCluster ? undefined : ((client as Redis).stream as Socket | undefined)
    socket?.cork()
    try {
      const entry =
        fillLock === undefined
          ? client.getBuffer(entryKey)
          : client.setBuffer(entryKey, fillLock.value, 'PX', fillLock.ttlMs, 'NX', 'GET')
      const tags = this.#setGet
        ? tagKeys.map((tagKey, index) => client.set(tagKey, `${freshVersion}.${index}`, 'PX', tagTtlMs, 'NX', 'GET'))
        : [client.mget(...tagKeys).then((versions) => versions)]
      return Promise.all([entry, ...tags]).then((replies) =>
        this.#setGet
          ? (replies as [Buffer | null, ...(string | null)[]])
          : [replies[0] as Buffer | null, ...(replies[1] as (string | null)[])],
      )
    } finally {
      socket?.uncork()
    }
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

function isSyntaxError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && /syntax error/i.test(error.message)
}

const FILL_MARKER_BYTES = Buffer.from(FILL_MARKER_PREFIX)
/** Our tokens are short; anything longer that starts the same way is foreign bytes, read as a corrupt entry. */
const MAX_FILL_LOCK_BYTES = FILL_MARKER_BYTES.length + 64

function isFillLock(bytes: Buffer): boolean {
  return (
    bytes.length > FILL_MARKER_BYTES.length &&
    bytes.length <= MAX_FILL_LOCK_BYTES &&
    bytes.subarray(0, FILL_MARKER_BYTES.length).equals(FILL_MARKER_BYTES)
  )
}
