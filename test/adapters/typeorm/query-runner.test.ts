// What `dataSource.query()` invalidates, seen at the instrumented query runner
// with a stand-in for the driver's runner: no database, no Redis.
import type { QueryRunner } from 'typeorm'
import { describe, expect, test } from 'vitest'
import type { Dialect } from '../../../adapters/sql/lexer.js'
import { Analyzer } from '../../../adapters/typeorm/analyzer.js'
import { ReadMarks } from '../../../adapters/typeorm/marks.js'
import { instrumentQueryRunner } from '../../../adapters/typeorm/query-runner.js'
import { SchemaIndex } from '../../../adapters/typeorm/schema.js'
import type { WriteTags } from '../../../adapters/typeorm/writes.js'

/** A runner whose every statement succeeds with no rows, and the invalidations it caused. */
function runner(dialect: Dialect): { query: (sql: string) => Promise<unknown>; invalidated: WriteTags[] } {
  const invalidated: WriteTags[] = []
  const analyzer = new Analyzer(dialect, new SchemaIndex([]), new Map())
  const driverRunner = {
    isTransactionActive: false,
    query: async () => [],
    commitTransaction: async () => {},
    rollbackTransaction: async () => {},
    release: async () => {},
  } as unknown as QueryRunner
  const instrumented = instrumentQueryRunner(driverRunner, {
    dialect,
    marks: new ReadMarks(),
    analyzer: () => analyzer,
    namespace: () => 'test',
    persisting: () => false,
    load: () => Promise.reject(new Error('no read is marked for the cache here')),
    invalidate: async (tags) => {
      invalidated.push(tags)
    },
  })
  return { query: (sql) => instrumented.query(sql), invalidated }
}

describe('instrumented query runner', () => {
  test.each(['postgres', 'mysql', 'sqlite'] as const)(
    '%s: a read whose write keywords start no statement invalidates nothing (issue 14)',
    async (dialect) => {
      const { query, invalidated } = runner(dialect)
      await query("WITH x AS (SELECT REPLACE(name, 'a', 'b') AS n FROM users) SELECT * FROM x")
      await query("(SELECT replace(name, 'a', 'b') FROM users) UNION (SELECT name FROM posts)")
      await query('WITH t AS (SELECT id FROM jobs FOR UPDATE SKIP LOCKED) SELECT * FROM t')
      expect(invalidated).toStrictEqual([])
      await query('WITH d AS (DELETE FROM jobs RETURNING *) SELECT * FROM d')
      expect(invalidated).toStrictEqual(['all'])
    },
  )
})
