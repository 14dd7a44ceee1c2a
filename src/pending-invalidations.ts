import { ALL_TAGS } from './bus.js'

const REPLAY_INTERVAL_MS = 1_000
const MAX_PENDING_TAGS = 10_000

/**
 * Invalidations this instance made that Redis has not taken yet (it was down or timed out).
 * Their tags are not trusted in Redis by this instance until replayed. The replay goes past this
 * instance's circuit breaker (other instances may trust Redis again before this one does, and
 * serve what the write replaced meanwhile): every second until Redis takes it, at once when the
 * connection is back or the circuit closes, and once more when the cache closes. A long outage under heavy
 * writes would grow this without bound (row tags), so past a limit it collapses into one
 * invalidation of everything: coarser, never lost.
 */
export class PendingInvalidations {
  readonly #tags = new Set<string>()
  /** Writes the tags to Redis, past the circuit breaker; throws when it still cannot. */
  readonly #write: (tags: readonly string[]) => Promise<void>
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(write: (tags: readonly string[]) => Promise<void>) {
    this.#write = write
  }

  get size(): number {
    return this.#tags.size
  }

  /** Keeps `tags` until a replay writes them, and schedules one. */
  keep(tags: readonly string[]): void {
    if (!this.#tags.has(ALL_TAGS)) {
      for (const tag of tags) this.#tags.add(tag)
      if (this.#tags.size > MAX_PENDING_TAGS) {
        this.#tags.clear()
        this.#tags.add(ALL_TAGS)
      }
    }
    this.#schedule()
  }

  /** True when one of `tags` (or everything) is still waiting to reach Redis. */
  covers(tags: readonly string[]): boolean {
    if (this.#tags.size === 0) return false
    return this.#tags.has(ALL_TAGS) || tags.some((tag) => this.#tags.has(tag))
  }

  /** Writes what is pending; throws if Redis still cannot take it, so it stays pending. */
  async replay(): Promise<void> {
    if (this.#tags.size === 0) return
    const tags = [...this.#tags]
    await this.#write(tags)
    for (const tag of tags) this.#tags.delete(tag)
  }

  /** After a replay that failed outside the schedule: try again at the next interval. */
  retryLater(): void {
    this.#schedule()
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      // Not left to the probe that closes the circuit: it backs off to seconds, and other
      // instances may trust Redis meanwhile.
      this.replay().catch(() => this.#schedule())
    }, REPLAY_INTERVAL_MS)
    this.#timer.unref()
  }
}
