import { type LexicalRules, type Token, tokenize } from './lexer.js'
import {
  CLAUSE_END,
  clauseAfter,
  mainRelation,
  NOT_ALIAS,
  type Relation,
  readTableName,
  readTableRef,
  type TableRefRead,
  tableReferences,
} from './table-refs.js'
import { closingParen, isName, isPunct, isWord, nameOf, splitStatements } from './tokens.js'

export type { Relation } from './table-refs.js'

/**
 * What one SQL statement does to the cache, read off its tokens. Table names
 * are bare (no schema) and lower case. Anything this cannot read with
 * confidence comes out as `unknown`, which the caller treats as a write to
 * everything.
 */
export type Statement =
  | SelectStatement
  | InsertStatement
  | FilteredWrite
  | RewriteStatement
  | { readonly kind: 'begin' | 'commit' | 'rollback' | 'ddl-commit' | 'none' | 'unknown' }

/** A write whose rows cannot be told: every row of `tables` may have changed. */
export interface RewriteStatement {
  readonly kind: 'rewrite'
  /** The statement's leading keyword: `TRUNCATE`, `MERGE`, `ALTER`, `CREATE`, `DROP`, `RENAME`, `COPY`, `LOAD`, `UPDATE`. */
  readonly command: string
  readonly tables: readonly string[]
  /**
   * Which referencing tables change too: `policy` follows each foreign key's
   * ON DELETE, `all` every referencing table (TRUNCATE … CASCADE, DROP … CASCADE).
   */
  readonly cascade: 'none' | 'policy' | 'all'
  /** DDL: MySQL commits an open transaction before running it. */
  readonly implicitCommit: boolean
}

export interface SelectStatement {
  readonly kind: 'select'
  /** Every table reference, once per occurrence (a table read twice appears twice). */
  readonly tables: readonly string[]
  /** The table whose rows the result is made of, when the statement has a plain one. */
  readonly main: Relation | undefined
}

export interface FilteredWrite {
  readonly kind: 'update' | 'delete'
  /** Tables the statement writes: more than one only for MySQL multi-table forms. */
  readonly targets: readonly string[]
  /** The single target with its WHERE, when rows can be told from it. */
  readonly relation: Relation | undefined
  /** Columns an UPDATE sets; `undefined` when they cannot be read. */
  readonly setColumns: readonly string[] | undefined
}

/** A value in a statement: a placeholder (0-based index into the parameters) or a literal. */
export type ValueRef = { readonly param: number } | { readonly literal: string }

export interface InsertStatement {
  readonly kind: 'insert'
  readonly table: string
  readonly columns: readonly string[] | undefined
  /** The VALUES rows; `undefined` for INSERT … SELECT and forms not read. A cell is `undefined` unless a plain value. */
  readonly rows: readonly (readonly (ValueRef | undefined)[])[] | undefined
  /** ON CONFLICT / ON DUPLICATE KEY / REPLACE: rows other than the inserted ones may change. */
  readonly upsert: boolean
  /** Columns an upsert's update part sets; `undefined` when it cannot be read. */
  readonly upsertSetColumns: readonly string[] | undefined
}

const NO_EFFECT = new Set([
  'SHOW',
  'DESCRIBE',
  'DESC',
  'SET',
  'RESET',
  'USE',
  'LISTEN',
  'UNLISTEN',
  'NOTIFY',
  'LOCK',
  'ANALYZE',
  'ANALYSE',
  'VACUUM',
  'CHECKPOINT',
  'DEALLOCATE',
  'DISCARD',
  'CLUSTER',
  'REINDEX',
  'GRANT',
  'REVOKE',
  'COMMENT',
  'SAVEPOINT',
  'RELEASE',
  'PRAGMA',
  'DECLARE',
  'FETCH',
  'CLOSE',
  'MOVE',
  'PREPARE',
  'OPTIMIZE',
  'CHECK',
  'FLUSH',
  'KILL',
  'TABLE',
])
const WRITE_WORDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'TRUNCATE'])

export function parseStatement(tokens: readonly Token[]): Statement {
  const first = tokens[0]
  if (first === undefined) return { kind: 'none' }
  // `(SELECT …) UNION (SELECT …)` starts with a parenthesis.
  if (isPunct(first, '(')) return queryWrites(tokens, true) ? { kind: 'unknown' } : parseSelect(tokens)
  if (first.kind !== 'word') return { kind: 'unknown' }
  switch (first.value) {
    case 'SELECT':
      return parseSelect(tokens)
    case 'VALUES':
      // A constant row set: a read of no table.
      return { kind: 'select', tables: [], main: undefined }
    case 'WITH':
      return parseWith(tokens)
    case 'INSERT':
    case 'REPLACE':
      return parseInsert(tokens)
    case 'UPDATE':
      return parseUpdate(tokens)
    case 'DELETE':
      return parseDelete(tokens)
    case 'TRUNCATE':
      return parseTruncate(tokens)
    case 'MERGE':
      return rewriteOf('MERGE', tableAfter(tokens, 1, ['INTO']), 'policy')
    case 'COPY':
      // COPY t FROM … loads rows; COPY t TO … and COPY (query) TO … only read.
      return tokens.some((token) => isWord(token, 'FROM') && token.depth === 0)
        ? rewriteOf('COPY', tableAfter(tokens, 1, []), 'none')
        : { kind: 'none' }
    case 'LOAD':
      return rewriteOf('LOAD', tableAfter(tokens, indexOfWord(tokens, 'TABLE', 0) + 1, []), 'none')
    case 'ALTER':
      return isWord(tokens[1], 'TABLE')
        ? rewriteOf('ALTER', tableAfter(tokens, 2, ['IF', 'EXISTS', 'ONLY']), 'policy', true)
        : ddl()
    case 'DROP':
      return parseDrop(tokens)
    case 'CREATE':
      return parseCreate(tokens)
    case 'RENAME':
      return isWord(tokens[1], 'TABLE') ? rewriteOf('RENAME', namesIn(tokens.slice(2)), 'none', true) : ddl()
    case 'BEGIN':
    case 'START':
      return { kind: 'begin' }
    case 'COMMIT':
    case 'END':
      return { kind: 'commit' }
    case 'ROLLBACK':
    case 'ABORT':
      return tokens.some((token) => isWord(token, 'TO')) ? { kind: 'none' } : { kind: 'rollback' }
    case 'EXPLAIN':
      return parseExplain(tokens)
    default:
      return NO_EFFECT.has(first.value) ? { kind: 'none' } : { kind: 'unknown' }
  }
}

function ddl(): Statement {
  // MySQL commits an open transaction before any DDL statement.
  return { kind: 'ddl-commit' }
}

function rewriteOf(
  command: string,
  tables: readonly string[] | undefined,
  cascade: RewriteStatement['cascade'],
  implicitCommit = false,
): Statement {
  if (tables === undefined || tables.length === 0) return { kind: 'unknown' }
  return { kind: 'rewrite', command, tables, cascade, implicitCommit }
}

function parseSelect(tokens: readonly Token[]): Statement {
  // A SELECT cannot write, except by INTO and through functions, which no SQL text reveals.
  if (queryWrites(tokens, false)) return { kind: 'unknown' }
  return { kind: 'select', tables: tableReferences(tokens), main: mainRelation(tokens, 0, tokens.length) }
}

function parseWith(tokens: readonly Token[]): Statement {
  // A data-modifying CTE (or WITH … INSERT/UPDATE/DELETE) may write through any of its parts, by any form.
  if (queryWrites(tokens, true)) return { kind: 'unknown' }
  return { kind: 'select', tables: tableReferences(tokens), main: undefined }
}

function parseExplain(tokens: readonly Token[]): Statement {
  if (!tokens.some((token) => isWord(token, 'ANALYZE', 'ANALYSE'))) return { kind: 'none' }
  // EXPLAIN ANALYZE runs the statement.
  const start = tokens.findIndex(
    (token, index) => index > 0 && token.depth === 0 && isWord(token, 'SELECT', 'WITH', ...WRITE_WORDS),
  )
  if (start === -1) return { kind: 'unknown' }
  // What the statement it runs writes is read with less context than the statement alone: unknown.
  return parseStatement(tokens.slice(start)).kind === 'select' ? { kind: 'none' } : { kind: 'unknown' }
}

function parseDrop(tokens: readonly Token[]): Statement {
  if (isWord(tokens[1], 'TABLE')) {
    let start = 2
    if (isWord(tokens[start], 'IF') && isWord(tokens[start + 1], 'EXISTS')) start += 2
    return rewriteOf('DROP', namesIn(tokens.slice(start)), 'all', true)
  }
  if (isWord(tokens[1], 'SCHEMA', 'DATABASE')) return { kind: 'unknown' }
  return ddl()
}

function parseCreate(tokens: readonly Token[]): Statement {
  const tableAt = tokens.findIndex((token, index) => index < 4 && isWord(token, 'TABLE'))
  // A table made again under an old name must not find entries of the old one.
  if (tableAt !== -1) return rewriteOf('CREATE', tableAfter(tokens, tableAt + 1, ['IF', 'NOT', 'EXISTS']), 'none', true)
  return ddl()
}

// What may follow TRUNCATE's table list; anything else is a form not read here.
const TRUNCATE_OPTIONS = ['RESTART', 'CONTINUE', 'IDENTITY', 'RESTRICT', 'CASCADE']

/** `TRUNCATE [TABLE] [ONLY] a [*], [ONLY] b … [RESTART|CONTINUE IDENTITY] [CASCADE|RESTRICT]`. */
function parseTruncate(tokens: readonly Token[]): Statement {
  let i = isWord(tokens[1], 'TABLE') ? 2 : 1
  const tables: string[] = []
  for (;;) {
    if (isWord(tokens[i], 'ONLY')) i++
    const ref = readTableName(tokens, i)
    if (ref === undefined) return { kind: 'unknown' }
    tables.push(ref.name)
    i = ref.end
    if (tokens[i]?.kind === 'op' && tokens[i]!.value === '*') i++
    if (!isPunct(tokens[i], ',')) break
    i++
  }
  const options = tokens.slice(i)
  if (!options.every((token) => isWord(token, ...TRUNCATE_OPTIONS))) return { kind: 'unknown' }
  // CASCADE empties every table with a foreign key to these, and theirs in turn.
  const cascade = options.some((token) => isWord(token, 'CASCADE'))
  return rewriteOf('TRUNCATE', tables, cascade ? 'all' : 'none', true)
}

// SQLite's conflict clause: `INSERT OR IGNORE INTO t`, `UPDATE OR REPLACE t SET …`.
const CONFLICT_RESOLUTIONS = ['ABORT', 'FAIL', 'IGNORE', 'REPLACE', 'ROLLBACK']

/**
 * The index after `OR <resolution>` at `i`, and whether it resolves conflicts
 * by deleting the conflicting rows; `undefined` for an `OR` followed by
 * anything else (never a table named "or").
 */
function skipConflictClause(tokens: readonly Token[], i: number): { next: number; replace: boolean } | undefined {
  if (!isWord(tokens[i], 'OR')) return { next: i, replace: false }
  if (!isWord(tokens[i + 1], ...CONFLICT_RESOLUTIONS)) return undefined
  return { next: i + 2, replace: isWord(tokens[i + 1], 'REPLACE') }
}

function parseInsert(tokens: readonly Token[]): Statement {
  const conflict = skipConflictClause(tokens, 1)
  if (conflict === undefined) return { kind: 'unknown' }
  const replace = isWord(tokens[0], 'REPLACE') || conflict.replace
  let i = conflict.next
  while (isWord(tokens[i], 'IGNORE', 'LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'INTO')) i++
  const target = readTableName(tokens, i)
  if (target === undefined) return { kind: 'unknown' }
  i = target.end
  if (isWord(tokens[i], 'AS') && isName(tokens[i + 1])) i += 2
  let columns: string[] | undefined
  if (isPunct(tokens[i], '(')) {
    const close = closingParen(tokens, i)
    columns = namesIn(tokens.slice(i + 1, close))
    i = close + 1
  }
  const upsertAt = tokens.findIndex(
    (token, index) => token.depth === 0 && isWord(token, 'ON') && isWord(tokens[index + 1], 'CONFLICT', 'DUPLICATE'),
  )
  // CONFLICT or DUPLICATE anywhere else (in a subquery, a form not read here) counts as an upsert too.
  const upsert = replace || tokens.some((token) => isWord(token, 'CONFLICT', 'DUPLICATE'))
  // REPLACE deletes the rows it conflicts with: what it changes cannot be told from the columns.
  const setColumns = upsertAt !== -1 ? upsertSetColumns(tokens, upsertAt) : upsert ? undefined : []
  let rows: (ValueRef | undefined)[][] | undefined
  if (isWord(tokens[i], 'VALUES', 'VALUE')) rows = readValueRows(tokens, i + 1)
  return { kind: 'insert', table: target.name, columns, rows, upsert, upsertSetColumns: setColumns }
}

function parseUpdate(tokens: readonly Token[]): Statement {
  const conflict = skipConflictClause(tokens, 1)
  if (conflict === undefined) return { kind: 'unknown' }
  // OR REPLACE deletes the rows a changed unique key now collides with: which, the SQL cannot tell.
  if (conflict.replace) return rewriteOf('UPDATE', tableAfter(tokens, conflict.next, ['ONLY']), 'policy')
  let i = conflict.next
  while (isWord(tokens[i], 'ONLY', 'LOW_PRIORITY', 'IGNORE')) i++
  const setAt = indexOfWord(tokens, 'SET', 0)
  if (setAt === -1) return { kind: 'unknown' }
  // A derived table or a parenthesized join among the targets: which tables are written is not read here.
  if (tokens.slice(i, setAt).some((token) => isPunct(token, '('))) return { kind: 'unknown' }
  const refs = updateTargets(tokens, i, setAt)
  if (refs === undefined) return { kind: 'unknown' }
  const where = clauseAfter(tokens, indexOfWord(tokens, 'WHERE', 0), 0)
  const single = refs.length === 1 ? refs[0] : undefined
  return {
    kind: 'update',
    targets: [...new Set(refs.map((ref) => ref.name!))],
    relation: single && { table: single.name!, alias: single.alias, where },
    setColumns: setColumnsAfter(tokens, setAt),
  }
}

// What may follow `DELETE FROM <table> [alias]`; anything else (a comma list, a join) is a form not read here.
const DELETE_CLAUSES = ['WHERE', 'USING', 'RETURNING', 'ORDER', 'LIMIT', 'PARTITION']

function parseDelete(tokens: readonly Token[]): Statement {
  let i = 1
  while (isWord(tokens[i], 'LOW_PRIORITY', 'QUICK', 'IGNORE')) i++
  // MySQL's `DELETE t1, t2 FROM …` names its targets by alias: which tables those are is not read here.
  if (!isWord(tokens[i], 'FROM')) return { kind: 'unknown' }
  let start = i + 1
  if (isWord(tokens[start], 'ONLY')) start++
  const target = readTableRef(tokens, start)
  if (target === undefined || target.name === undefined) return { kind: 'unknown' }
  const after = tokens[target.end]
  if (after !== undefined && !isWord(after, ...DELETE_CLAUSES)) return { kind: 'unknown' }
  if (tokens.some((token) => token.depth === 0 && isWord(token, 'USING'))) {
    // PostgreSQL's USING joins tables to filter by; MySQL's names the tables to delete from: all may be written.
    const targets = [...new Set([target.name, ...tableReferences(tokens)])]
    return { kind: 'delete', targets, relation: undefined, setColumns: undefined }
  }
  const where = clauseAfter(tokens, indexOfWord(tokens, 'WHERE', 0), 0)
  return {
    kind: 'delete',
    targets: [target.name],
    relation: { table: target.name, alias: target.alias, where },
    setColumns: undefined,
  }
}

function tableAfter(tokens: readonly Token[], start: number, skip: readonly string[]): string[] | undefined {
  let i = start
  while (isWord(tokens[i], ...skip)) i++
  const table = readTableName(tokens, i)
  return table === undefined ? undefined : [table.name]
}

/**
 * The tables between UPDATE and SET. One table with its alias, or, for MySQL's
 * multi-table UPDATE (a JOIN or a comma list), every table named there, any of
 * which may be written.
 */
function updateTargets(tokens: readonly Token[], start: number, end: number): TableRefRead[] | undefined {
  const first = readTableRef(tokens, start)
  if (first?.name === undefined) return undefined
  if (first.end === end) return [first]
  const span = tokens.slice(first.end, end)
  const refs: TableRefRead[] = [first]
  for (const name of tableReferences(span)) refs.push({ name, alias: undefined, subquery: undefined, end })
  span.forEach((token, index) => {
    if (!isPunct(token, ',') || token.depth !== 0) return
    const ref = readTableRef(span, index + 1)
    if (ref?.name !== undefined) refs.push(ref)
  })
  // Two entries even when only one name was found: the caller must not read rows off a multi-table form.
  return refs.length === 1 ? [first, first] : refs
}

/** Columns of an upsert's update part: none for DO NOTHING, `undefined` when unreadable. */
function upsertSetColumns(tokens: readonly Token[], upsertAt: number): string[] | undefined {
  for (let i = upsertAt; i < tokens.length; i++) {
    if (tokens[i]!.depth !== 0) continue
    if (isWord(tokens[i], 'NOTHING')) return []
    if (isWord(tokens[i], 'SET') || (isWord(tokens[i], 'UPDATE') && isWord(tokens[i - 1], 'KEY'))) {
      return setColumnsAfter(tokens, i)
    }
  }
  return undefined
}

/** The column names of the `a = 1, b = 2` list after the keyword at `keywordAt`; `undefined` if unreadable. */
function setColumnsAfter(tokens: readonly Token[], keywordAt: number): string[] | undefined {
  const depth = tokens[keywordAt]!.depth
  const columns: string[] = []
  let expectColumn = true
  for (let j = keywordAt + 1; j < tokens.length; j++) {
    const token = tokens[j]!
    if (token.depth < depth) break
    if (token.depth > depth) continue
    if (token.kind === 'word' && (token.value === 'WHERE' || token.value === 'FROM' || CLAUSE_END.has(token.value)))
      break
    if (isPunct(token, ',')) {
      expectColumn = true
      continue
    }
    if (!expectColumn) continue
    if (!isName(token)) return undefined
    let name = nameOf(token)
    let k = j + 1
    while (isPunct(tokens[k], '.') && isName(tokens[k + 1])) {
      name = nameOf(tokens[k + 1]!)
      k += 2
    }
    if (tokens[k]?.kind !== 'op' || tokens[k]!.value !== '=') return undefined
    columns.push(name)
    expectColumn = false
    j = k
  }
  return columns
}

function readValueRows(tokens: readonly Token[], start: number): (ValueRef | undefined)[][] | undefined {
  const rows: (ValueRef | undefined)[][] = []
  let i = start
  while (isPunct(tokens[i], '(')) {
    const close = closingParen(tokens, i)
    const cells: (ValueRef | undefined)[] = []
    let cell: Token[] = []
    for (let j = i + 1; j <= close; j++) {
      const token = tokens[j]!
      if (j === close || (isPunct(token, ',') && token.depth === tokens[i]!.depth + 1)) {
        cells.push(plainValue(cell))
        cell = []
      } else {
        cell.push(token)
      }
    }
    rows.push(cells)
    i = close + 1
    if (!isPunct(tokens[i], ',')) break
    i++
  }
  return rows.length > 0 ? rows : undefined
}

/** A plain value: one placeholder, number or string, optionally negated. */
export function plainValue(cell: readonly Token[]): ValueRef | undefined {
  if (cell.length === 1) {
    const token = cell[0]!
    if (token.kind === 'param') return { param: Number(token.value) }
    if (token.kind === 'number' || token.kind === 'string') return { literal: token.value }
  }
  if (cell.length === 2 && cell[0]!.kind === 'op' && cell[0]!.value === '-' && cell[1]!.kind === 'number') {
    return { literal: `-${cell[1]!.value}` }
  }
  return undefined
}

function namesIn(tokens: readonly Token[]): string[] {
  // Qualified names keep their last part: `"s"."t"` is `t`; keywords are not names.
  const names: string[] = []
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (!isName(token) || isPunct(tokens[i + 1], '.')) continue
    if (token.kind === 'word' && (NOT_ALIAS.has(token.value) || token.value === 'TO' || token.value === 'IF')) continue
    names.push(nameOf(token))
  }
  return names
}

/**
 * Whether a query (a SELECT, a WITH, a parenthesized query) may write: by
 * SELECT … INTO, which makes a table (PostgreSQL, SQL Server) or writes
 * variables and files (MySQL), or, with `statements`, by a data-modifying
 * statement in it: a CTE's, or the one after the CTE list. This runs on every
 * raw query: one pass that looks at a word's neighbours, not a grammar.
 */
function queryWrites(tokens: readonly Token[], statements: boolean): boolean {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token.kind !== 'word') continue
    if (token.value !== 'INTO' && !(statements && WRITE_WORDS.has(token.value))) continue
    if (actsAsKeyword(tokens, i)) return true
  }
  return false
}

/**
 * Whether the word at `at` is a keyword where a statement (or INTO) can
 * stand, rather than a name (`t.delete`, `… AS update`), a locking read's
 * `FOR [NO KEY] UPDATE`, or a function called (`REPLACE(…)`, MySQL's
 * `INSERT(…)` and `TRUNCATE(…)`): no INSERT, REPLACE, DELETE, MERGE or
 * TRUNCATE statement, and no INTO, has a parenthesis after its keyword.
 * MySQL's `UPDATE (a JOIN b) SET …` does; every UPDATE has its SET, and no
 * read has one after a function call, so an `UPDATE (` followed by a SET
 * counts. Anything else, a bare column named `update` say, counts too.
 */
function actsAsKeyword(tokens: readonly Token[], at: number): boolean {
  const before = tokens[at - 1]
  if (isPunct(before, '.') || isWord(before, 'AS')) return false
  const word = tokens[at]!.value
  if (word === 'UPDATE') {
    if (isWord(before, 'FOR')) return false
    if (isWord(before, 'KEY') && isWord(tokens[at - 2], 'NO') && isWord(tokens[at - 3], 'FOR')) return false
  }
  if (!isPunct(tokens[at + 1], '(')) return true
  return word === 'UPDATE' && setFollows(tokens, at)
}

/** Whether a SET keyword follows `at` at its depth, before the parenthesis around it closes. */
function setFollows(tokens: readonly Token[], at: number): boolean {
  const depth = tokens[at]!.depth
  for (let i = at + 1; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token.depth < depth) return false
    // MySQL's SET is followed by a column: `SET (` is a function, `t.set` a name.
    if (token.depth === depth && isWord(token, 'SET') && actsAsKeyword(tokens, i)) return true
  }
  return false
}

function indexOfWord(tokens: readonly Token[], word: string, depth: number): number {
  return tokens.findIndex((token) => token.depth === depth && isWord(token, word))
}

/** The statements of `sql` under `rules`; one `unknown` when the text cannot be read to its end. */
export function parseSql(sql: string, rules: LexicalRules): Statement[] {
  const tokens = tokenize(sql, rules)
  if (tokens === undefined) return [{ kind: 'unknown' }]
  return splitStatements(tokens).map(parseStatement)
}
