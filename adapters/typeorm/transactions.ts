import type { WriteTags } from './writes.js'

/**
 * The transaction state of one query runner, as its statements tell it.
 *
 * TypeORM's subscribers fire `after*` events before COMMIT (typeorm #1705,
 * #8661), so invalidating there lets a concurrent reader cache pre-commit data
 * again. Watching the runner's statements instead sees what the database sees:
 * `startTransaction()` sends START TRANSACTION (or BEGIN), `commitTransaction()`
 * sends COMMIT, nested transactions send SAVEPOINT / RELEASE, and raw
 * `query('BEGIN')` is caught the same way. Writes inside collect their tags
 * here; COMMIT invalidates them, ROLLBACK drops them.
 */
export class RunnerTransaction {
  /** A transaction was opened with SQL on this runner and not ended yet. */
  open = false
  #tags = new Set<string>()
  #all = false

  get pending(): boolean {
    return this.#all || this.#tags.size > 0
  }

  add(tags: WriteTags): void {
    if (tags === 'all') this.#all = true
    else for (const tag of tags) this.#tags.add(tag)
  }

  /** What the transaction wrote so far, without forgetting it (for MySQL's implicit commits before DDL). */
  peek(): WriteTags | undefined {
    if (this.#all) return 'all'
    return this.#tags.size > 0 ? [...this.#tags] : undefined
  }

  /** Ends the transaction and hands over its tags: on COMMIT, or when its outcome is unknown. */
  take(): WriteTags | undefined {
    const tags = this.peek()
    this.discard()
    return tags
  }

  /** Ends the transaction and forgets its tags: on ROLLBACK. */
  discard(): void {
    this.open = false
    this.#tags = new Set()
    this.#all = false
  }
}
