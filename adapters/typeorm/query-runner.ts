import { QueryResult, type QueryRunner } from 'typeorm'
import { UnsupportedOrmError } from '../../src/errors.js'
import type { Dialect } from '../sql/lexer.js'
import type { Statement } from '../sql/statements.js'
import type { Analyzer } from './analyzer.js'
import type { ReadMarks } from './marks.js'
import { planRead, type ReadPlan } from './reads.js'
import { RunnerTransaction } from './transactions.js'
import {
  isTransactionActive,
  type RunnerMethods,
  replaceRunnerMethods,
  skipStoreInCacheStringify,
} from './typeorm-internals.js'
import { tagsOfWrite, type WriteTags } from './writes.js'

/** What an instrumented query runner needs from the adapter. */
export interface RunnerContext {
  readonly dialect: Dialect
  readonly marks: ReadMarks
  analyzer(): Analyzer
  namespace(): string
  /** True inside `save`/`remove`/…: TypeORM's own reads of the rows it is about to write. */
  persisting(): boolean
  load(plan: ReadPlan, loader: () => Promise<unknown[]>): Promise<unknown[]>
  invalidate(tags: WriteTags): Promise<void>
}

const instrumented = new WeakSet<QueryRunner>()

/**
 * Caches at the query runner, not in TypeORM's `QueryResultCache`: that
 * interface hands the provider rows already turned into JSON and parses them
 * back (typeorm #2794, #11288), so a cached Date would come back a string. Here
 * the driver's rows still have their types; they are stored as msgpack and
 * TypeORM hydrates them exactly as it hydrates rows from the database, with the
 * same entity classes, transformers, bigint and decimal strings. The provider
 * only tells the runner which SELECTs TypeORM's own cache settings allow
 * (see `ReadMarks`), and every statement the runner sends is checked for writes.
 */
export function instrumentQueryRunner(runner: QueryRunner, context: RunnerContext): QueryRunner {
  // Some drivers (better-sqlite3, sqlite) hand out one runner for every createQueryRunner():
  // instrumenting it again would nest the wrappers, one level per query, until the stack overflows.
  if (instrumented.has(runner)) return runner
  instrumented.add(runner)
  replaceRunnerMethods(runner, (own) => instrumentedMethods(runner, own, context))
  return runner
}

/** The replacements of one runner's methods, around its own (`own`). */
function instrumentedMethods(runner: QueryRunner, own: RunnerMethods, context: RunnerContext): RunnerMethods {
  const query = own.query
  const transaction = new RunnerTransaction()
  const inTransaction = () => transaction.open || isTransactionActive(runner)

  const cachedQuery: RunnerMethods['query'] = async (sql, parameters, useStructuredResult = false) => {
    const mark = context.marks.take(runner, sql, parameters)
    // Reads in a transaction may see its own uncommitted writes: never cached, never served.
    if (mark !== undefined && !inTransaction() && !context.persisting()) {
      const shape = context.analyzer().analyze(sql).read
      const plan = shape && planRead(context.namespace(), shape, parameters, mark)
      if (plan !== undefined) {
        const records = await context.load(plan, async () => recordsOf(await query(sql, parameters, true)))
        if (!useStructuredResult) return records
        skipStoreInCacheStringify(records)
        return Object.assign(new QueryResult(), { records, raw: records })
      }
    }
    return await runStatements(sql, parameters, useStructuredResult)
  }

  const runStatements = async (sql: string, parameters: unknown[] | undefined, useStructuredResult: boolean) => {
    const { statements } = context.analyzer().analyze(sql)
    let result: unknown
    try {
      result = await query(sql, parameters, useStructuredResult)
    } catch (error) {
      // A failed write may still have been applied (the connection died after it): invalidate anyway.
      await settle(statements, parameters, undefined, true)
      throw error
    }
    await settle(statements, parameters, statements.length === 1 ? result : undefined, false)
    return result
  }

  /** Invalidates what the statements wrote, now or at COMMIT, before the query call returns. */
  const settle = async (
    statements: readonly Statement[],
    parameters: unknown[] | undefined,
    result: unknown,
    failed: boolean,
  ) => {
    const now = new RunnerTransaction()
    const merge = (tags: WriteTags | undefined) => {
      if (tags !== undefined) now.add(tags)
    }
    for (const statement of statements) {
      switch (statement.kind) {
        case 'begin':
          if (!failed) transaction.open = true
          break
        case 'commit':
          // A COMMIT that failed may have committed: its outcome is unknown, so invalidate.
          merge(transaction.take())
          break
        case 'rollback':
          transaction.discard()
          break
        case 'ddl-commit':
          if (context.dialect === 'mysql' && inTransaction()) merge(transaction.peek())
          break
        default: {
          const tags = tagsOfWrite(context.analyzer().schema, statement, parameters, result)
          if (tags === undefined) break
          if (!inTransaction()) {
            merge(tags)
            break
          }
          transaction.add(tags)
          // MySQL commits before DDL. The tags stay pending too: invalidating again at COMMIT is harmless.
          if (statement.kind === 'rewrite' && statement.implicitCommit && context.dialect === 'mysql') {
            merge(transaction.peek())
          }
        }
      }
    }
    const tags = now.take()
    if (tags !== undefined) await context.invalidate(tags)
  }

  return {
    query: cachedQuery,
    async commitTransaction() {
      await own.commitTransaction()
      // Drivers that commit through their client's API send no COMMIT; they still clear isTransactionActive.
      if (!isTransactionActive(runner) && transaction.pending) await context.invalidate(transaction.take()!)
    },
    async rollbackTransaction() {
      try {
        await own.rollbackTransaction()
      } finally {
        if (!isTransactionActive(runner)) transaction.discard()
      }
    },
    async release() {
      try {
        return await own.release()
      } finally {
        // Released inside a transaction it never ended: whether it committed is unknown.
        if (transaction.pending) await context.invalidate(transaction.take()!)
      }
    },
  }
}

function recordsOf(result: unknown): unknown[] {
  const records = (result as { records?: unknown } | undefined)?.records
  if (!Array.isArray(records)) {
    // Every driver TypeORM 0.3.20+ ships fills `records` of a structured result; one that does not cannot be cached.
    throw new UnsupportedOrmError(
      "this TypeORM driver's query runner returned no `records` for a SELECT asked for a structured result; " +
        'ormcache supports the drivers TypeORM 0.3.20 and later ship',
    )
  }
  return records
}
