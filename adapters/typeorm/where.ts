import type { Token } from '../sql/lexer.js'
import { plainValue, type ValueRef } from '../sql/statements.js'
import { closingParen, isName, isPunct, isWord, nameOf } from '../sql/tokens.js'

/**
 * Which rows of one table a WHERE clause can match, as a disjunction of
 * assignments: each gives, per key column, the values it was compared with
 * (`id = $1 AND id IN (1)` gives `id: [$1, 1]`, equal when the read is not
 * empty). `undefined` means any row may match. Everything not understood is
 * read as "any row", so a restriction is never narrower than the truth.
 */
export type Restriction = readonly Assignment[] | undefined
export type Assignment = ReadonlyMap<string, readonly ValueRef[]>

/** The column set a restriction is about, and how its columns may be written. */
export interface KeyColumns {
  /** Key column names, lower case. */
  readonly columns: ReadonlySet<string>
  /** Names that qualify the table's columns: its alias and its own name, lower case. */
  readonly qualifiers: ReadonlySet<string>
}

// More alternatives than this and row tags stop paying for themselves.
const MAX_ASSIGNMENTS = 256

export function restrictionOf(where: readonly Token[] | undefined, key: KeyColumns): Restriction {
  if (where === undefined || where.length === 0) return undefined
  const depth = Math.min(...where.map((token) => token.depth))
  return disjunction(where, 0, where.length, depth, key)
}

function disjunction(
  tokens: readonly Token[],
  start: number,
  end: number,
  depth: number,
  key: KeyColumns,
): Restriction {
  const result: Assignment[] = []
  for (const [from, to] of split(tokens, start, end, depth, 'OR')) {
    const term = conjunction(tokens, from, to, depth, key)
    if (term === undefined) return undefined
    result.push(...term)
    if (result.length > MAX_ASSIGNMENTS) return undefined
  }
  return result
}

function conjunction(
  tokens: readonly Token[],
  start: number,
  end: number,
  depth: number,
  key: KeyColumns,
): Restriction {
  let result: Assignment[] | undefined
  for (const [from, to] of split(tokens, start, end, depth, 'AND')) {
    const factor = comparison(tokens, from, to, depth, key)
    if (factor === undefined) continue
    result = result === undefined ? [...factor] : product(result, factor)
    if (result === undefined) return undefined
  }
  return result
}

/** Ranges between top-level `word`s, keeping BETWEEN … AND … and CASE … END whole. */
function split(tokens: readonly Token[], start: number, end: number, depth: number, word: string): [number, number][] {
  const parts: [number, number][] = []
  let from = start
  let between = false
  let cases = 0
  for (let i = start; i < end; i++) {
    const token = tokens[i]!
    if (token.depth !== depth || token.kind !== 'word') continue
    if (token.value === 'BETWEEN') between = true
    else if (token.value === 'CASE') cases++
    else if (token.value === 'END' && cases > 0) cases--
    else if (token.value === word && cases === 0) {
      if (word === 'AND' && between) {
        between = false
        continue
      }
      parts.push([from, i])
      from = i + 1
    }
  }
  parts.push([from, end])
  return parts
}

/** `col = v`, `v = col`, `col IN (v, …)` or a parenthesized expression; else `undefined` (any row). */
function comparison(tokens: readonly Token[], start: number, end: number, depth: number, key: KeyColumns): Restriction {
  if (start >= end) return undefined
  if (isPunct(tokens[start], '(') && closingParen(tokens, start) === end - 1) {
    return disjunction(tokens, start + 1, end - 1, depth + 1, key)
  }
  const column = keyColumnAt(tokens, start, key)
  if (column !== undefined && column.end < end) {
    const operator = tokens[column.end]!
    if (operator.kind === 'op' && operator.value === '=') {
      const value = plainValue(tokens.slice(column.end + 1, end))
      return value === undefined ? undefined : [new Map([[column.name, [value]]])]
    }
    if (
      isWord(operator, 'IN') &&
      isPunct(tokens[column.end + 1], '(') &&
      closingParen(tokens, column.end + 1) === end - 1
    ) {
      return inList(tokens, column.end + 2, end - 1, depth + 1, column.name)
    }
    return undefined
  }
  // value = column
  const equals = tokens.findIndex(
    (token, index) =>
      index > start && index < end && token.depth === depth && token.kind === 'op' && token.value === '=',
  )
  if (equals === -1) return undefined
  const value = plainValue(tokens.slice(start, equals))
  const right = keyColumnAt(tokens, equals + 1, key)
  if (value === undefined || right === undefined || right.end !== end) return undefined
  return [new Map([[right.name, [value]]])]
}

function inList(tokens: readonly Token[], start: number, end: number, depth: number, column: string): Restriction {
  const result: Assignment[] = []
  let from = start
  for (let i = start; i <= end; i++) {
    if (i === end || (isPunct(tokens[i], ',') && tokens[i]!.depth === depth)) {
      const value = plainValue(tokens.slice(from, i))
      if (value === undefined) return undefined
      result.push(new Map([[column, [value]]]))
      from = i + 1
    }
  }
  return result.length > MAX_ASSIGNMENTS ? undefined : result
}

/** A reference to one of `key`'s columns at `start` (`"id"`, `"User"."id"`, `"s"."user"."id"`). */
function keyColumnAt(
  tokens: readonly Token[],
  start: number,
  key: KeyColumns,
): { name: string; end: number } | undefined {
  const parts: string[] = []
  let i = start
  if (!isName(tokens[i])) return undefined
  parts.push(nameOf(tokens[i]!))
  i++
  while (isPunct(tokens[i], '.') && isName(tokens[i + 1])) {
    parts.push(nameOf(tokens[i + 1]!))
    i += 2
  }
  const name = parts.at(-1)!
  if (!key.columns.has(name)) return undefined
  // An unqualified column in a statement with several tables could belong to any of them.
  const qualifier = parts.at(-2)
  if (qualifier === undefined ? !key.qualifiers.has('') : !key.qualifiers.has(qualifier)) return undefined
  return { name, end: i }
}

function product(left: readonly Assignment[], right: readonly Assignment[]): Assignment[] | undefined {
  if (left.length * right.length > MAX_ASSIGNMENTS) return undefined
  const result: Assignment[] = []
  for (const a of left) {
    for (const b of right) {
      const merged = new Map(a)
      for (const [column, values] of b) merged.set(column, [...(merged.get(column) ?? []), ...values])
      result.push(merged)
    }
  }
  return result
}
