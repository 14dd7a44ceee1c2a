import type { QueryRunner } from 'typeorm'
import { queryIdOf } from './typeorm-internals.js'

/** What TypeORM's query-result cache asked for one read: its cache id and duration. */
export interface ReadMark {
  readonly identifier: string | undefined
  /** Milliseconds; 0 when the query set none. */
  readonly duration: number
}

/**
 * Hand-off from the `QueryResultCache` provider to the query runner.
 * `SelectQueryBuilder.loadRawResults` asks the provider (`getFromCache`) only
 * for reads TypeORM's own cache settings allow (`cache: false` never gets
 * there), then runs the SQL on the same query runner. The provider leaves a
 * mark under the exact query id TypeORM built (`<sql> -- PARAMETERS: <json>`);
 * the runner, finding it, serves that statement from our cache.
 */
const MAX_MARKS_PER_RUNNER = 100

export class ReadMarks {
  readonly #byRunner = new WeakMap<QueryRunner, Map<string, ReadMark[]>>()

  add(runner: QueryRunner, queryId: string, mark: ReadMark): void {
    let marks = this.#byRunner.get(runner)
    if (marks === undefined) {
      marks = new Map()
      this.#byRunner.set(runner, marks)
    }
    // Marks are taken as the statement starts; only a runner the adapter did not
    // instrument leaves them, and it must not grow without bound.
    if (marks.size >= MAX_MARKS_PER_RUNNER) marks.clear()
    // A list: reads of relations may run the same SQL concurrently on one runner.
    const list = marks.get(queryId)
    if (list === undefined) marks.set(queryId, [mark])
    else list.push(mark)
  }

  /** Takes the mark of this statement, if the provider left one. Cheap when there is none. */
  take(runner: QueryRunner, sql: string, parameters: readonly unknown[] | undefined): ReadMark | undefined {
    const marks = this.#byRunner.get(runner)
    if (marks === undefined || marks.size === 0) return undefined
    const queryId = queryIdOf(sql, parameters)
    const list = marks.get(queryId)
    const mark = list?.shift()
    if (list?.length === 0) marks.delete(queryId)
    return mark
  }
}
