import { randomBytes } from 'node:crypto'
import { RedisUnavailableError } from '../errors.js'
import type { RedisConnection } from '../redis/connection.js'

/**
 * Which instance consumes a database's change stream: one at a time per prefix, through a Redis
 * key holding the consumer's id with a TTL it renews. When the consumer dies its lease runs out,
 * and a standby takes it at its next attempt. Two consumers for a moment (a partition) would only
 * invalidate twice; the lease keeps that rare, not impossible.
 */
export class ConsumerLease {
  readonly #redis: RedisConnection
  readonly #key: string
  readonly #id = randomBytes(12).toString('base64url')
  readonly #ttlMs: number
  readonly #timeoutMs: number

  constructor(redis: RedisConnection, key: string, ttlMs: number, timeoutMs: number) {
    this.#redis = redis
    this.#key = key
    this.#ttlMs = ttlMs
    this.#timeoutMs = timeoutMs
  }

  /** True when this instance holds the lease now (taken, or still its own). */
  async acquire(): Promise<boolean> {
    const taken = await this.#timed(this.#redis.client.set(this.#key, this.#id, 'PX', this.#ttlMs, 'NX'))
    if (taken === 'OK') return true
    return (await this.renew()) === true
  }

  /** Extends the lease; false when another instance holds it now. */
  async renew(): Promise<boolean> {
    return (await this.#timed(this.#redis.commands.ormcacheRenewV1(1, this.#key, this.#id, this.#ttlMs))) === 1
  }

  /** Lets a standby take over at its next attempt instead of after the TTL. */
  async release(): Promise<void> {
    await this.#timed(this.#redis.commands.ormcacheUnlockV2(1, this.#key, this.#id, ''))
  }

  /**
   * Bounded by the cache's Redis timeout. The timer is not unref'd on purpose: the cache's own
   * sockets are, and an awaited lease operation (a `close()` handing the lease on) must keep the
   * process up until it is done.
   */
  async #timed<T>(operation: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RedisUnavailableError(`no answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      )
    })
    try {
      return await Promise.race([operation, timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}
