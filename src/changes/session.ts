import type { TransactionTags } from './transaction-tags.js'

/** One connection following a database's changes: a PostgreSQL replication session, or a binlog reader. */
export interface ChangeSession {
  /**
   * True when the session goes on from where an earlier one confirmed (a durable slot): nothing
   * committed meanwhile is missed. False when it starts from now, and what committed while nobody
   * followed the stream is unknown.
   */
  readonly resumed: boolean
  /** Settles when the session stops: with the error that stopped it, or `undefined` when asked to. */
  readonly ended: Promise<Error | undefined>
  stop(): Promise<void>
}

/** Where a session hands what committed transactions changed: the consumer. */
export interface TransactionSink {
  /** Invalidates a committed transaction's tags, here and (when it can) in Redis and on the bus. */
  commit(tags: TransactionTags, committedAt: number): Promise<void>
  /** True when Redis holds every invalidation made so far: only then is a position confirmed. */
  settled(): boolean
  /** Tables left out of the stream because the database cannot stream their changes. */
  unpublished(tables: readonly string[]): void
}
