import type { Redis } from 'ioredis'
import type { RedisClient } from './redis/connection.js'
import { releaseProcessHold } from './redis/process-hold.js'

/** What travels on the channel: who sent it, and the tags it invalidated (`'*'` for everything). */
interface BusMessage {
  readonly from: string
  readonly tags: readonly string[]
}

export interface BusEvents {
  /** Another instance invalidated `tags`; `undefined` means everything. */
  onInvalidate(tags: readonly string[] | undefined): void
  /** Every invalidation up to `position` on the bus has been applied here (this instance's own included). */
  onPosition(position: number): void
  /** The subscription is live again after a gap in which messages may have been lost. */
  onResubscribed(): void
  /** The subscription is down: messages from now on may be lost. */
  onDisconnected(): void
}

export const ALL_TAGS = '*'

/** Listens on one key's fill channel (see `InvalidationBus.watchFill`). */
export interface FillWatch {
  /**
   * Resolves at the next announcement, or after `ms`: at once if one came since the last call.
   * The subscription's confirmation counts as one, so the first look after it sees a lock that
   * ended before anything could be heard.
   */
  next(ms: number): Promise<void>
  close(): void
}

/** A channel this instance is subscribed to for its waiters on one key. */
interface FillChannel {
  confirmed: boolean
  readonly watchers: Set<{ wake(): void }>
}

const HEARTBEAT_INTERVAL_MS = 1_000
/** Heartbeats sent in a row without one coming back before the subscription is taken for dead. */
const MISSED_HEARTBEATS = 3

/**
 * Invalidations between instances over Redis pub/sub. Publishing happens inside
 * the invalidation script (see scripts.ts), atomically with the version change;
 * this side only listens, on a connection of its own.
 *
 * Pub/sub is at-most-once: while the subscriber is disconnected messages are
 * lost, so the owner must stop trusting its L1 (`onDisconnected`) and flush it
 * once the subscription is back (`onResubscribed`).
 */
export class InvalidationBus {
  readonly channel: string
  readonly #subscriber: Redis | RedisClient
  readonly #publisher: RedisClient
  readonly #instanceId: string
  readonly #events: BusEvents
  /** Heard only by this instance: proof that its subscription still delivers. */
  readonly #heartbeatChannel: string
  readonly #heartbeat: NodeJS.Timeout
  /** Heartbeats sent since the last one came back: counted in beats, not time, so a stalled process is not a dead bus. */
  #unanswered = 0
  #live = false
  #everLive = false
  #closed = false
  /** Fill channels subscribed to while some load in this process waits on another instance's. */
  readonly #fillChannels = new Map<string, FillChannel>()
  /** Resolves when the first subscription is live (or the bus closes). */
  readonly #firstLive: Promise<void>
  #resolveFirstLive!: () => void

  constructor(client: RedisClient, channel: string, instanceId: string, events: BusEvents) {
    this.channel = channel
    this.#publisher = client
    this.#instanceId = instanceId
    this.#events = events
    this.#heartbeatChannel = `${channel}:heartbeat:${instanceId}`
    this.#firstLive = new Promise((resolve) => {
      this.#resolveFirstLive = resolve
    })
    // A subscribed connection can run nothing else, so the bus has its own.
    this.#subscriber = client.duplicate()
    this.#subscriber.on('error', () => {})
    releaseProcessHold(this.#subscriber)
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.#receive(message)
      else if (channel === this.#heartbeatChannel) this.#unanswered = 0
      else for (const watcher of this.#fillChannels.get(channel)?.watchers ?? []) watcher.wake()
    })
    this.#subscriber.on('ready', () => this.#subscribe())
    this.#subscriber.on('close', () => this.#lost())
    this.#subscriber.on('end', () => this.#lost())
    if (this.#subscriber.status === 'ready') this.#subscribe()
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_INTERVAL_MS)
    this.#heartbeat.unref()
  }

  /** True while messages are being received; only then may L1 be trusted. */
  get live(): boolean {
    return this.#live
  }

  /**
   * While the first subscription is still being made (not after a failure or a loss), a promise
   * of it going live; else undefined. A load made before it would be kept from L1 (the bus's
   * first live moment empties it), so a cold process's first reads may wait for it.
   */
  get starting(): Promise<void> | undefined {
    if (this.#everLive || this.#closed) return undefined
    const status = this.#subscriber.status
    return status === 'wait' || status === 'connecting' || status === 'connect' || status === 'ready'
      ? this.#firstLive
      : undefined
  }

  /**
   * Listens for the end of another instance's fill lock on `channel`, on the subscriber connection
   * (a SUBSCRIBE, no round trip of the caller's), shared by this process's waiters on the key.
   * Undefined while the bus is down: announcements could be lost, and the waiter polls.
   */
  watchFill(channel: string): FillWatch | undefined {
    if (!this.#live || this.#closed) return undefined
    let fill = this.#fillChannels.get(channel)
    if (fill === undefined) {
      const created: FillChannel = { confirmed: false, watchers: new Set() }
      // A subscription that failed wakes the watchers too: they look, then poll on their own.
      const confirm = () => {
        created.confirmed = true
        for (const watcher of created.watchers) watcher.wake()
      }
      this.#subscriber.subscribe(channel).then(confirm, confirm)
      this.#fillChannels.set(channel, created)
      fill = created
    }
    const { watchers } = fill
    let announced = fill.confirmed
    let wake: (() => void) | undefined
    const watcher = {
      wake: () => {
        announced = true
        wake?.()
      },
    }
    watchers.add(watcher)
    return {
      next: (ms) => {
        if (announced) {
          announced = false
          return Promise.resolve()
        }
        return new Promise<void>((resolve) => {
          const timer = setTimeout(() => wake?.(), ms)
          wake = () => {
            clearTimeout(timer)
            wake = undefined
            announced = false
            resolve()
          }
        })
      },
      close: () => {
        watchers.delete(watcher)
        if (watchers.size > 0 || this.#fillChannels.get(channel) !== fill) return
        this.#fillChannels.delete(channel)
        if (!this.#closed) this.#subscriber.unsubscribe(channel).catch(() => {})
      },
    }
  }

  encode(tags: readonly string[]): string {
    return JSON.stringify({ from: this.#instanceId, tags } satisfies BusMessage)
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#live = false
    this.#resolveFirstLive()
    clearInterval(this.#heartbeat)
    await this.#subscriber.quit().catch(() => this.#subscriber.disconnect())
  }

  #subscribe(): void {
    this.#subscriber.subscribe(this.channel, this.#heartbeatChannel).then(
      () => {
        if (this.#closed || this.#live) return
        this.#live = true
        this.#everLive = true
        this.#resolveFirstLive()
        this.#unanswered = 0
        this.#events.onResubscribed()
      },
      () => this.#lost(),
    )
  }

  /**
   * A connection can die without a word (an idle NAT entry dropped, a silent
   * partition): TCP keepalive would take hours to tell, and L1 hits never touch
   * Redis, so nothing else would. Each instance publishes to itself; when its
   * own heartbeats stop arriving the bus is down, and the subscriber reconnects.
   */
  #beat(): void {
    if (!this.#live || this.#closed) return
    // Beats, not elapsed time: after a stall of the process (CPU starvation, a long synchronous
    // task) the overdue beat finds few sent, where a clock would find seconds without an answer.
    if (this.#unanswered >= MISSED_HEARTBEATS) {
      this.#lost()
      this.#subscriber.disconnect(true)
      return
    }
    this.#unanswered++
    this.#publisher.publish(this.#heartbeatChannel, '1').catch(() => {})
  }

  #lost(): void {
    if (!this.#live) return
    this.#live = false
    this.#events.onDisconnected()
  }

  #receive(raw: string): void {
    // `<position> <JSON>`; a message without its position comes from an older release.
    const space = raw.indexOf(' ')
    const position = space > 0 ? Number(raw.slice(0, space)) : Number.NaN
    const positioned = Number.isSafeInteger(position)
    let message: unknown
    try {
      message = JSON.parse(positioned ? raw.slice(space + 1) : raw)
    } catch {
      message = undefined
    }
    if (!isBusMessage(message)) {
      // Unreadable: we cannot tell what it invalidated, so it invalidated everything.
      this.#events.onInvalidate(undefined)
    } else if (message.from !== this.#instanceId) {
      this.#events.onInvalidate(message.tags.includes(ALL_TAGS) ? undefined : message.tags)
    }
    // After the invalidation is applied: a reader waiting for this position may then use memory.
    if (positioned) this.#events.onPosition(position)
  }
}

function isBusMessage(value: unknown): value is BusMessage {
  if (value === null || typeof value !== 'object') return false
  const { from, tags } = value as Record<string, unknown>
  return typeof from === 'string' && Array.isArray(tags) && tags.every((tag) => typeof tag === 'string')
}
