import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * What Prisma 7 tells a query extension about the transaction an operation
 * runs in: the undocumented `__internalParams.transaction`, `{ kind: 'batch',
 * id, index }` for `$transaction([...])` or `{ kind: 'itx', id }` for an
 * interactive one. A test pins this shape so an upgrade that changes it fails loudly.
 */
export interface PrismaTransaction {
  readonly kind: string
  readonly id: string | number
}

/** The writes of one `$transaction` call, waiting for its outcome. */
class TransactionScope {
  readonly tags = new Set<string>()
  /** The Prisma transaction this scope's operations ran in, learnt from the first of them. */
  transactionKey: string | undefined
  settled = false

  constructor(readonly parent: TransactionScope | undefined) {}
}

/**
 * Defers the invalidations of writes inside a transaction to its commit and
 * drops them on rollback. A query extension sees each operation but not the
 * transaction's end, so the adapter also wraps `$transaction`: the wrapper runs
 * the transaction inside an `AsyncLocalStorage` scope, its operations record
 * their tags in the scope, and when Prisma's `$transaction` resolves (it
 * resolves only after COMMIT) the scope's tags are invalidated. A rejection
 * means rollback: the tags are dropped.
 */
export class TransactionTracker {
  readonly #storage = new AsyncLocalStorage<TransactionScope>()
  /** Open scopes by Prisma transaction, so an operation finds its own transaction's scope from any async context. */
  readonly #scopes = new Map<string, TransactionScope>()
  readonly #invalidate: (tags: readonly string[]) => Promise<void>

  constructor(invalidate: (tags: readonly string[]) => Promise<void>) {
    this.#invalidate = invalidate
  }

  /**
   * Runs one `$transaction` call. `nested` is true for `tx.$transaction(…)`
   * inside an interactive transaction: its writes join the enclosing
   * transaction's and are invalidated when that one commits.
   */
  async run<T>(nested: boolean, start: () => Promise<T>): Promise<T> {
    const parent = nested ? this.#storage.getStore() : undefined
    const scope = new TransactionScope(parent)
    let result: T
    try {
      result = await this.#storage.run(scope, start)
    } catch (error) {
      this.#close(scope)
      // A failed nested transaction rolls back to its savepoint, but its writes
      // still reach the enclosing transaction's invalidation: over-invalidating
      // is safe, and it does not depend on how Prisma implements nesting.
      if (parent !== undefined) this.#merge(scope, parent)
      throw error
    }
    this.#close(scope)
    if (parent !== undefined) this.#merge(scope, parent)
    else if (scope.tags.size > 0) await this.#invalidate([...scope.tags])
    return result
  }

  /**
   * Records the tags of a write made inside `transaction`. Returns false when
   * no open `$transaction` call of this extension owns it (a transaction started
   * through a client without this wrapper): the caller must then make it safe.
   */
  record(transaction: PrismaTransaction, tags: readonly string[]): boolean {
    const scope = this.#scopeOf(transaction)
    if (scope === undefined) return false
    for (const tag of tags) scope.tags.add(tag)
    return true
  }

  #scopeOf(transaction: PrismaTransaction): TransactionScope | undefined {
    const key = `${transaction.kind}:${String(transaction.id)}`
    const known = this.#scopes.get(key)
    if (known !== undefined) return known
    // The first operation of a transaction runs inside the callback (or batch) of
    // the `$transaction` call that started it: the innermost scope not yet bound.
    for (let scope = this.#storage.getStore(); scope !== undefined; scope = scope.parent) {
      if (scope.settled) continue
      if (scope.transactionKey === key) return scope
      if (scope.transactionKey === undefined) {
        scope.transactionKey = key
        this.#scopes.set(key, scope)
        return scope
      }
    }
    return undefined
  }

  /** Hands a nested scope's tags to its parent; if the parent is gone too, invalidates them now. */
  #merge(scope: TransactionScope, parent: TransactionScope): void {
    if (scope.tags.size === 0) return
    if (!parent.settled) {
      for (const tag of scope.tags) parent.tags.add(tag)
      return
    }
    void this.#invalidate([...scope.tags]).catch(() => {})
  }

  #close(scope: TransactionScope): void {
    scope.settled = true
    if (scope.transactionKey !== undefined && this.#scopes.get(scope.transactionKey) === scope) {
      this.#scopes.delete(scope.transactionKey)
    }
  }
}
