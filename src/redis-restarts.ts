import type { RedisClient } from './redis/connection.js'

/**
 * Tells when the Redis behind a client is not the one it was: a Redis that restarted empty lost
 * every tag version, and the bus messages sent meanwhile, so this process must stop trusting its
 * memory. Its run id, read at every (re)connection, changes on every start.
 */
export class RedisRestarts {
  readonly #client: RedisClient
  readonly #onRestart: () => void
  readonly #onError: (error: unknown) => void
  #runId: string | undefined

  constructor(client: RedisClient, onRestart: () => void, onError: (error: unknown) => void) {
    this.#client = client
    this.#onRestart = onRestart
    this.#onError = onError
    client.on('ready', this.#check)
    if (client.status === 'ready') this.#check()
  }

  /** Detaches from the client, which may be the app's and outlive the cache. */
  stop(): void {
    this.#client.off('ready', this.#check)
  }

  readonly #check = (): void => {
    this.#client.info('server').then((info) => {
      const runId = /run_id:(\w+)/.exec(info)?.[1]
      if (runId === undefined) return
      if (this.#runId !== undefined && this.#runId !== runId) this.#onRestart()
      this.#runId = runId
    }, this.#onError)
  }
}
