/**
 * Keeps a dead or stalled Redis from costing every request its timeout. The
 * first connection failure or timeout opens the circuit: from then on Redis
 * is skipped at no cost, while a background probe checks whether it is back.
 * When a probe succeeds, `recover` runs (replaying what could not be written)
 * before the circuit closes, so nothing is read from Redis that misses a write.
 */
export interface CircuitBreakerHooks {
  /** A cheap round trip to Redis, bypassing the breaker; throws when Redis is not usable. */
  probe(): Promise<void>
  /** Runs after a successful probe and before the circuit closes; throwing keeps it open. */
  recover(): Promise<void>
  onOpen(): void
  onClose(): void
}

const FIRST_PROBE_MS = 100
const MAX_PROBE_MS = 5_000

export class CircuitBreaker {
  readonly #hooks: CircuitBreakerHooks
  #open = false
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(hooks: CircuitBreakerHooks) {
    this.#hooks = hooks
  }

  get isOpen(): boolean {
    return this.#open
  }

  trip(): void {
    if (this.#open || this.#stopped) return
    this.#open = true
    this.#hooks.onOpen()
    this.#scheduleProbe(FIRST_PROBE_MS)
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  #scheduleProbe(delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(async () => {
      try {
        await this.#hooks.probe()
        await this.#hooks.recover()
      } catch {
        this.#scheduleProbe(Math.min(delayMs * 2, MAX_PROBE_MS))
        return
      }
      if (this.#stopped) return
      this.#open = false
      this.#hooks.onClose()
    }, delayMs)
    // A probe must never keep the process alive.
    this.#timer.unref()
  }
}
