import { AsyncLocalStorage } from 'node:async_hooks'
import type { EntityManager } from 'typeorm'

// The EntityManager methods that load the current rows before writing (to diff
// them against the entities given), on whatever runner they use.
const PERSIST_METHODS = ['save', 'remove', 'softRemove', 'recover'] as const

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
    const methods = manager as unknown as Record<(typeof PERSIST_METHODS)[number], (...args: unknown[]) => unknown>
    for (const name of PERSIST_METHODS) {
      const original = methods[name].bind(manager)
      methods[name] = (...args: unknown[]) => this.#storage.run(true, () => original(...args))
    }
    return manager
  }
}
