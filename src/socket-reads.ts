/**
 * How long ago this process last read its sockets, the bus's among them. An L1 hit resolves as a
 * microtask, so a loop of hits (`for (…) await prisma.x.findUnique(…)` in a script or a queue
 * worker) never lets the event loop reach its poll phase, and another instance's invalidation
 * would sit unread in the bus's socket for as long as the loop runs. L1 must not be served past a
 * bound on that; this tells when it is, and lets a caller wait for the sockets to be read.
 *
 * Node runs `setImmediate` callbacks in the check phase, right after each poll phase. So while
 * hits keep coming, one immediate per turn records when it ran: at the next one, a poll phase has
 * run since, and whatever had reached the sockets by the previous one has been read (ioredis
 * parses what it reads at once, so the bus's handler has run too). With no hits, nothing is
 * scheduled, and the first hit after a quiet spell waits one turn, then another, then decides.
 */
export class SocketReads {
  /** Whatever reached this process's sockets before this time (ms since the epoch) has been read. */
  #readUpTo = Number.NEGATIVE_INFINITY
  /** When the previous check-phase callback of the current chain ran; undefined before the first. */
  #lastCheckAt: number | undefined
  #immediate: NodeJS.Immediate | undefined
  /** A hit asked since the last check phase: keep the chain going. */
  #asked = false
  /** Callers waiting for a read of the sockets: the next check phase arms them, the one after releases them. */
  #waiting: (() => void)[] = []
  #armed: (() => void)[] = []
  readonly #time: { now(): number }

  constructor(time: { now(): number } = { now: () => Date.now() }) {
    this.#time = time
  }

  /** True when the sockets were read at most `boundMs` before `now`; keeps the record current for later calls. */
  readWithin(now: number, boundMs: number): boolean {
    this.#asked = true
    this.#watch()
    return now - this.#readUpTo <= boundMs
  }

  /** Resolves once a poll phase has run after this call: the sockets have been read since. */
  nextRead(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve)
      this.#watch()
      // A waiter must keep the process alive until its turn comes; a chain kept only for hits need not.
      this.#immediate?.ref()
    })
  }

  /** Stops watching; waiters are released (their callers re-check and carry on). */
  stop(): void {
    if (this.#immediate !== undefined) clearImmediate(this.#immediate)
    this.#immediate = undefined
    this.#lastCheckAt = undefined
    for (const release of this.#armed.splice(0).concat(this.#waiting.splice(0))) release()
  }

  #watch(): void {
    if (this.#immediate !== undefined) return
    this.#schedule()
  }

  #schedule(): void {
    this.#immediate = setImmediate(this.#onCheck)
    if (this.#waiting.length === 0 && this.#armed.length === 0) this.#immediate.unref()
  }

  readonly #onCheck = (): void => {
    const now = this.#time.now()
    if (this.#lastCheckAt !== undefined) this.#readUpTo = this.#lastCheckAt
    this.#lastCheckAt = now
    const released = this.#armed
    this.#armed = this.#waiting
    this.#waiting = []
    for (const release of released) release()
    if (this.#asked || this.#armed.length > 0) {
      this.#asked = false
      this.#schedule()
    } else {
      // Quiet: the chain ends, and the next one starts without a previous check to vouch for.
      this.#immediate = undefined
      this.#lastCheckAt = undefined
    }
  }
}
