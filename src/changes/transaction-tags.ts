import { rowTag, tableTag, wholeTableTags } from '../table-tags.js'

/** What a change stream says a transaction changed. */
export type TableChange =
  /** `key`: the row's primary key values, normalized, in the order of the sorted column names; `undefined` when it cannot be told. */
  | { readonly kind: 'row'; readonly table: string; readonly key: readonly string[] | undefined }
  /** Every row of these tables may have changed (a truncate, a table altered or renamed). */
  | { readonly kind: 'tables'; readonly tables: readonly string[] }
  /** Anything may have changed (a statement whose reach cannot be told). */
  | { readonly kind: 'everything' }

// Bounds on what one transaction may hold before its invalidation coarsens: a backfill of a
// million rows invalidates its table, not a million row tags, and the consumer's memory stays
// bounded however large the transaction.
const MAX_ROWS_PER_TABLE = 1_000
const MAX_TABLES = 1_000

/**
 * The tags one committed transaction invalidates, in the vocabulary both adapters read with: for
 * each row, its table's tag and its row tag; for a row whose key is unknown, or a table with more
 * rows than are worth naming, every tag of the table; past too many tables, everything.
 */
export class TransactionTags {
  /** Row tags by table; `undefined` once the whole table is invalidated. */
  readonly #tables = new Map<string, Set<string> | undefined>()
  #everything = false

  /** Adds a change; other messages of a stream (its begin, its commit) are ignored. */
  add(change: TableChange | { readonly kind: 'begin' | 'commit' | 'none' }): void {
    if (this.#everything) return
    if (change.kind === 'row') {
      if (change.key === undefined) this.#wholeTable(change.table)
      else this.#row(change.table, rowTag(change.table, change.key))
    } else if (change.kind === 'tables') {
      for (const table of change.tables) this.#wholeTable(table)
    } else if (change.kind === 'everything') {
      this.#tables.clear()
      this.#everything = true
    }
  }

  /** Adds everything `other` holds: transactions committed one after another, invalidated as one. */
  absorb(other: TransactionTags): void {
    if (this.#everything) return
    if (other.#everything) {
      this.add({ kind: 'everything' })
      return
    }
    for (const [table, rows] of other.#tables) {
      if (rows === undefined) this.#wholeTable(table)
      else for (const tag of rows) this.#row(table, tag)
    }
  }

  /** Nothing to invalidate: a transaction on tables the publication does not cover, or none. */
  get empty(): boolean {
    return !this.#everything && this.#tables.size === 0
  }

  /** The tags to invalidate, or `'all'` when the transaction touched more than is worth naming. */
  tags(): readonly string[] | 'all' {
    if (this.#everything) return 'all'
    const tags: string[] = []
    for (const [table, rows] of this.#tables) {
      if (rows === undefined) tags.push(...wholeTableTags(table))
      else tags.push(tableTag(table), ...rows)
    }
    return tags
  }

  clear(): void {
    this.#tables.clear()
    this.#everything = false
  }

  #row(table: string, tag: string): void {
    const key = table.toLowerCase()
    if (!this.#tables.has(key)) {
      if (!this.#roomForTable()) return
      this.#tables.set(key, new Set([tag]))
      return
    }
    const rows = this.#tables.get(key)
    if (rows === undefined) return
    rows.add(tag)
    if (rows.size > MAX_ROWS_PER_TABLE) this.#tables.set(key, undefined)
  }

  #wholeTable(table: string): void {
    const key = table.toLowerCase()
    if (this.#tables.has(key) || this.#roomForTable()) this.#tables.set(key, undefined)
  }

  #roomForTable(): boolean {
    if (this.#tables.size < MAX_TABLES) return true
    this.#everything = true
    this.#tables.clear()
    return false
  }
}
