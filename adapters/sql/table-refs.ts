import type { Token } from './lexer.js'
import { closingParen, isName, isPunct, isWord, nameOf } from './tokens.js'

// Where a statement names its tables: FROM and JOIN items, comma lists,
// derived tables, and the WHERE clause that filters the first of them.

/** A table and the WHERE clause that filters its rows. */
export interface Relation {
  readonly table: string
  readonly alias: string | undefined
  /** The WHERE clause's tokens, without the keyword; `undefined` when there is none. */
  readonly where: readonly Token[] | undefined
}

export const CLAUSE_END = new Set([
  'GROUP',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'HAVING',
  'WINDOW',
  'FOR',
  'FETCH',
  'RETURNING',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'LOCK',
])
// Words that end a table reference instead of naming its alias.
export const NOT_ALIAS = new Set([
  ...CLAUSE_END,
  'WHERE',
  'JOIN',
  'INNER',
  'LEFT',
  'RIGHT',
  'FULL',
  'CROSS',
  'NATURAL',
  'OUTER',
  'STRAIGHT_JOIN',
  'ON',
  'USING',
  'SET',
  'VALUES',
  'SELECT',
  'DEFAULT',
  'INTO',
  'WITH',
  'PARTITION',
  'USE',
  'IGNORE',
  'FORCE',
  'TABLESAMPLE',
  'LATERAL',
  'DO',
  'AS',
  'RESTART',
  'CONTINUE',
  'CASCADE',
  'RESTRICT',
  'OVERRIDING',
  'FROM',
  'WHEN',
  'THEN',
])
/**
 * The relation a SELECT's rows come from: its first FROM item when that is a
 * table, or the relation of the derived table it selects from (`SELECT DISTINCT
 * … FROM (SELECT … FROM t WHERE …) alias`, as ORMs paginate joined reads).
 */
export function mainRelation(tokens: readonly Token[], start: number, end: number): Relation | undefined {
  if (!isWord(tokens[start], 'SELECT')) return undefined
  const depth = tokens[start]!.depth
  let fromAt = -1
  for (let i = start + 1; i < end; i++) {
    const token = tokens[i]!
    if (token.depth < depth) break
    if (token.depth !== depth || token.kind !== 'word') continue
    if (token.value === 'UNION' || token.value === 'INTERSECT' || token.value === 'EXCEPT') return undefined
    if (fromAt === -1 && token.value === 'FROM' && !isWord(tokens[i - 1], 'DISTINCT')) fromAt = i
  }
  if (fromAt === -1) return undefined
  const ref = readTableRef(tokens, fromAt + 1)
  if (ref === undefined) return undefined
  if (ref.subquery !== undefined) return mainRelation(tokens, ref.subquery.start, ref.subquery.end)
  if (ref.name === undefined) return undefined
  const whereAt = indexOfWordAt(tokens, 'WHERE', depth, fromAt, end)
  return { table: ref.name, alias: ref.alias, where: clauseAfter(tokens, whereAt, depth) }
}

/** The tokens of the clause that starts with the keyword at `keywordAt`, up to the next clause at `depth`. */
export function clauseAfter(tokens: readonly Token[], keywordAt: number, depth: number): Token[] | undefined {
  if (keywordAt === -1) return undefined
  const clause: Token[] = []
  for (let i = keywordAt + 1; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token.depth < depth) break
    if (token.depth === depth && token.kind === 'word' && CLAUSE_END.has(token.value)) break
    clause.push(token)
  }
  return clause
}

/** Every table a statement reads or writes through FROM, JOIN, USING, INTO or UPDATE, once per occurrence. */
export function tableReferences(tokens: readonly Token[]): string[] {
  const tables: string[] = []
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token.kind !== 'word') continue
    const list = token.value === 'FROM' || (token.value === 'USING' && !isPunct(tokens[i + 1], '('))
    if (!list && token.value !== 'JOIN' && token.value !== 'INTO' && token.value !== 'UPDATE') continue
    if (token.value === 'FROM' && isWord(tokens[i - 1], 'DISTINCT')) continue
    const first = readTableRef(tokens, i + 1)
    if (first?.name !== undefined) tables.push(first.name)
    if (!list || first === undefined) continue
    // Every comma at the FROM's depth, up to its clause's end, starts another table, after JOINs too.
    for (let at = first.end; at < tokens.length; at++) {
      const next = tokens[at]!
      if (next.depth < token.depth) break
      if (next.depth > token.depth) continue
      if (next.kind === 'word' && (next.value === 'WHERE' || next.value === 'SET' || CLAUSE_END.has(next.value))) break
      if (!isPunct(next, ',')) continue
      const ref = readTableRef(tokens, at + 1)
      if (ref?.name !== undefined) tables.push(ref.name)
    }
  }
  return tables
}

export interface TableRefRead {
  /** Bare table name; `undefined` for a subquery or a function in FROM. */
  readonly name: string | undefined
  readonly alias: string | undefined
  readonly subquery: { readonly start: number; readonly end: number } | undefined
  /** Index just past the reference and its alias. */
  readonly end: number
}

export function readTableRef(tokens: readonly Token[], start: number): TableRefRead | undefined {
  let i = start
  while (isWord(tokens[i], 'LATERAL', 'ONLY')) i++
  let name: string | undefined
  let subquery: TableRefRead['subquery']
  if (isPunct(tokens[i], '(')) {
    const close = closingParen(tokens, i)
    if (isWord(tokens[i + 1], 'SELECT')) subquery = { start: i + 1, end: close }
    i = close + 1
  } else {
    const table = readTableName(tokens, i)
    if (table === undefined) return undefined
    i = table.end
    if (isPunct(tokens[i], '(')) {
      // A set-returning function (`generate_series(…)`), not a table.
      i = closingParen(tokens, i) + 1
    } else {
      name = table.name
    }
  }
  if (tokens[i]?.kind === 'op' && tokens[i]!.value === '*') i++
  let alias: string | undefined
  if (isWord(tokens[i], 'AS')) i++
  const candidate = tokens[i]
  if (isName(candidate) && (candidate.kind === 'ident' || !NOT_ALIAS.has(candidate.value))) {
    alias = nameOf(candidate)
    i++
  }
  return { name, alias, subquery, end: i }
}

/** A possibly qualified name (`"schema"."table"`): its last part, lower-cased. */
export function readTableName(tokens: readonly Token[], start: number): { name: string; end: number } | undefined {
  const first = tokens[start]
  if (!isName(first) || (first.kind === 'word' && NOT_ALIAS.has(first.value))) return undefined
  let name = nameOf(first)
  let i = start + 1
  while (isPunct(tokens[i], '.') && isName(tokens[i + 1])) {
    name = nameOf(tokens[i + 1]!)
    i += 2
  }
  return { name, end: i }
}

function indexOfWordAt(tokens: readonly Token[], word: string, depth: number, from: number, end: number): number {
  for (let i = from; i < end; i++) {
    const token = tokens[i]!
    if (token.depth < depth) return -1
    if (token.depth === depth && isWord(token, word)) return i
  }
  return -1
}
