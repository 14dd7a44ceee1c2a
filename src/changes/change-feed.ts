// Keeps the cache coherent with writes nobody told it about (another service, a script, psql, a
// trigger, a cascade): one instance per prefix and database follows the database's change stream
// and invalidates what each committed transaction changed, through the cache's usual invalidation
// (tag versions in Redis and the bus), so every instance's L1 drops it too. The others stand by and
// take over when its lease runs out.

import { ChangeStreamError } from '../errors.js'
import { CHANNELS, publish } from '../events.js'
import { hashArgs } from '../keys.js'
import type { RedisConnection } from '../redis/connection.js'
import { BinlogStream } from './binlog-stream.js'
import { ConsumerLease } from './consumer-lease.js'
import type { ResolvedChanges } from './options.js'
import { PostgresStream } from './postgres-stream.js'
import type { ChangeSession, TransactionSink } from './session.js'
import type { TransactionTags } from './transaction-tags.js'

/** The change stream as `stats().changes` shows it. */
export interface ChangeStreamStats {
  /**
   * `streaming`: this instance follows the database's changes; `standby`: another instance does;
   * `starting`; `down`: nobody here follows them now (see `error`), and writes made outside the
   * app are seen only when entries expire, until the stream is back and everything is invalidated.
   */
  state: 'starting' | 'streaming' | 'standby' | 'down'
  /** Committed transactions this instance invalidated from the stream. */
  transactions: number
  /** Times this instance invalidated everything because changes may have been missed (each start of its stream). */
  gaps: number
  /** From the last transaction's commit to its invalidation here, in ms (MySQL and MariaDB log commit times in whole seconds). */
  lagMs: number | undefined
  /** Tables left out of the publication (no primary key or replica identity): their changes are not followed. */
  unpublishedTables: readonly string[]
  /** Why the stream last failed, when it did. */
  error: string | undefined
}

/** What the feed needs of the cache. */
export interface FeedHost {
  readonly prefix: string
  readonly redis: RedisConnection | undefined
  readonly timeoutMs: number
  invalidate(tags: readonly string[]): Promise<void>
  invalidateAll(): Promise<void>
  /** True when Redis holds every invalidation this cache made. */
  settled(): boolean
}

// A standby takes over within LEASE_TTL_MS + LEASE_POLL_MS of the consumer's death.
const LEASE_TTL_MS = 3_000
const LEASE_RENEW_MS = 1_000
const LEASE_POLL_MS = 1_000
const FIRST_RETRY_MS = 1_000
/** Warnings given in this process: a server that stays misconfigured must not flood the log at every retry or instance. */
const warned = new Set<string>()
const MAX_RETRY_MS = 30_000

export class ChangeFeed implements TransactionSink {
  readonly #settings: ResolvedChanges
  readonly #host: FeedHost
  readonly #lease: ConsumerLease | undefined
  readonly #stats: ChangeStreamStats = {
    state: 'starting',
    transactions: 0,
    gaps: 0,
    lagMs: undefined,
    unpublishedTables: [],
    error: undefined,
  }
  #stream: ChangeSession | undefined
  #stopped = false
  #wake: (() => void) | undefined
  readonly #running: Promise<void>

  constructor(settings: ResolvedChanges, host: FeedHost) {
    this.#settings = settings
    this.#host = host
    this.#lease =
      host.redis === undefined
        ? undefined
        : new ConsumerLease(
            host.redis,
            `${host.prefix}:changes:${hashArgs([settings.database])}`,
            LEASE_TTL_MS,
            host.timeoutMs,
          )
    this.#running = this.#run()
  }

  stats(): ChangeStreamStats {
    return { ...this.#stats, unpublishedTables: [...this.#stats.unpublishedTables] }
  }

  /** Stops following the stream and hands the lease on. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.#wake?.()
    await this.#stream?.stop()
    await this.#running
  }

  async commit(tags: TransactionTags, committedAt: number): Promise<void> {
    const list = tags.tags()
    if (list === 'all') await this.#host.invalidateAll()
    else await this.#host.invalidate(list)
    this.#stats.transactions++
    this.#stats.lagMs = Math.max(0, Date.now() - committedAt)
  }

  settled(): boolean {
    return this.#host.settled()
  }

  unpublished(tables: readonly string[]): void {
    this.#stats.unpublishedTables = tables
    this.#warn(
      `ormcache: changes to ${tables.join(', ')} are not followed: PostgreSQL streams UPDATE and DELETE only for tables with a primary key or a REPLICA IDENTITY`,
    )
  }

  async #run(): Promise<void> {
    let retryMs = FIRST_RETRY_MS
    await this.#redisReady()
    while (!this.#stopped) {
      if (!(await this.#holdsLease())) {
        this.#setState('standby')
        await this.#sleep(LEASE_POLL_MS)
        continue
      }
      this.#setState('starting')
      try {
        this.#stream =
          this.#settings.kind === 'postgres'
            ? await PostgresStream.start(this.#settings, this)
            : await BinlogStream.start(this.#settings, this)
      } catch (error) {
        retryMs = await this.#backOff(error, retryMs)
        continue
      }
      if (this.#stopped) {
        await this.#stream.stop()
        break
      }
      // A new slot streams what commits from its creation on; whatever committed before, while no
      // instance followed the stream, is covered by invalidating everything once. A durable slot
      // that resumes replays it instead.
      const gap = !this.#stream.resumed
      if (gap) {
        await this.#host.invalidateAll()
        this.#stats.gaps++
      }
      this.#stats.error = undefined
      this.#setState('streaming', { gap })
      const renewal = this.#renewWhileStreaming(this.#stream)
      const startedAt = Date.now()
      const error = await this.#stream.ended
      clearInterval(renewal)
      this.#stream = undefined
      if (error === undefined) {
        await this.#lease?.release().catch(() => undefined)
        continue
      }
      // A stream that ran a while and broke is retried after a second; one that keeps breaking, ever later.
      if (Date.now() - startedAt > MAX_RETRY_MS) retryMs = FIRST_RETRY_MS
      retryMs = await this.#backOff(error, retryMs)
    }
    await this.#lease?.release().catch(() => undefined)
    this.#setState('down')
  }

  /** A cache just created is still connecting: its first lease attempt would fail and wait a poll for nothing. */
  async #redisReady(): Promise<void> {
    const client = this.#host.redis?.client
    if (client === undefined || client.status === 'ready') return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, LEASE_TTL_MS)
      timer.unref()
      client.once('ready', done)
      function done() {
        clearTimeout(timer)
        client?.off('ready', done)
        resolve()
      }
    })
  }

  async #holdsLease(): Promise<boolean> {
    if (this.#lease === undefined) return true
    try {
      return await this.#lease.acquire()
    } catch {
      // Redis unreachable: nobody can take the lease, nor invalidate; wait for it like the others.
      return false
    }
  }

  #renewWhileStreaming(stream: ChangeSession): NodeJS.Timeout {
    const timer = setInterval(() => {
      this.#lease?.renew().then(
        (held) => {
          // Lost to a standby after missed renewals: two consumers would only invalidate twice,
          // but the lease says who consumes.
          if (!held) void stream.stop()
        },
        () => undefined,
      )
    }, LEASE_RENEW_MS)
    timer.unref()
    return timer
  }

  /** Reports `error`, hands the lease on, waits `retryMs`; resolves to the next wait, doubled. */
  async #backOff(error: unknown, retryMs: number): Promise<number> {
    const reason =
      error instanceof ChangeStreamError
        ? error
        : new ChangeStreamError(error instanceof Error ? error.message : String(error), { cause: error })
    this.#stats.error = reason.message
    this.#setState('down', { error: reason })
    this.#warn(reason.message)
    await this.#lease?.release().catch(() => undefined)
    await this.#sleep(retryMs)
    return Math.min(retryMs * 2, MAX_RETRY_MS)
  }

  #setState(state: ChangeStreamStats['state'], detail: { gap?: boolean; error?: Error } = {}): void {
    if (this.#stats.state === state && detail.gap === undefined) return
    this.#stats.state = state
    publish(CHANNELS.changes, () => ({ prefix: this.#host.prefix, state, ...detail }))
  }

  #warn(message: string): void {
    if (warned.has(message)) return
    warned.add(message)
    process.emitWarning(message, { type: 'OrmCacheWarning', code: 'ORMCACHE_CHANGE_STREAM' })
  }

  /** Waits `ms`, or less when the feed stops; never keeps the process alive. */
  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      timer.unref()
      this.#wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
