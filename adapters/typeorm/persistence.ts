import { AsyncLocalStorage } from 'node:async_hooks'
import type { EntityManager } from 'typeorm'
import { wrapPersistMethods } from './typeorm-internals.js'

/**
 * Marks the reads TypeORM makes for its own persistence. `save()` loads the
 * rows it is about to update before it opens its transaction, so those reads
 * would otherwise be cacheable; a cached copy that missed a write made outside
 * the cache (another app, a trigger) would make `save()` skip columns it
 * thinks unchanged. They go to the database.
 */
export class PersistenceScope {
  readonly #storage = new AsyncLocalStorage<true>()

  get active(): boolean {
    return this.#storage.getStore() === true
  }

  /** Wraps the persistence methods of one manager instance; repositories call through their manager. */
  instrument<Manager extends EntityManager>(manager: Manager): Manager {
    wrapPersistMethods(manager, (call) => this.#storage.run(true, call))
    return manager
  }
}
