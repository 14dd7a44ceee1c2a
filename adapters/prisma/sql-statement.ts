/**
 * What one raw SQL statement can change, read from its text: nothing (a plain
 * read), the named tables, or anything (`all`) when that cannot be told with
 * certainty. Deliberately small: it recognises the leading keyword and the
 * target tables of INSERT / REPLACE / UPDATE / DELETE / TRUNCATE / MERGE /
 * ALTER TABLE, and gives up (`all`) on everything else — several statements,
 * a CTE that writes, procedures, `DO` blocks, MySQL executable comments, and
 * any text it cannot tokenize. Triggers and writing functions called from a
 * statement are invisible to it.
 */
export type SqlEffect =
  | { readonly kind: 'read' }
  | { readonly kind: 'all' }
  | { readonly kind: 'tables'; readonly tables: readonly TableWrite[] }

export interface TableWrite {
  /** The table's name, without schema or quotes (`"public"."User"` is `User`). */
  readonly name: string
  /** Unquoted identifiers: matched case-insensitively, as the databases fold them. */
  readonly quoted: boolean
  /** `insert` adds rows only; `write` may update or delete existing ones (and so fire referential actions). */
  readonly change: 'insert' | 'write'
}

type Token =
  | { readonly kind: 'word'; readonly value: string; readonly lower: string }
  | { readonly kind: 'ident'; readonly value: string }
  | { readonly kind: 'string' }
  | { readonly kind: 'param' }
  | { readonly kind: 'punct'; readonly value: string }

/** Lexical rules that differ between the SQL dialects; a statement is read under each. */
interface Dialect {
  /** MySQL: `\` escapes in string literals, `#` starts a comment. */
  readonly mysql: boolean
  /** PostgreSQL: block comments nest. */
  readonly nestedComments: boolean
}

const DIALECTS: readonly Dialect[] = [
  { mysql: false, nestedComments: false },
  { mysql: false, nestedComments: true },
  { mysql: true, nestedComments: false },
]

const ALL: SqlEffect = { kind: 'all' }
const READ: SqlEffect = { kind: 'read' }

class Unreadable extends Error {}

/**
 * Reads `sql` under the lexical rules of each supported dialect; when they
 * disagree (a backslash or a nested comment that one dialect reads as ending
 * a literal and another not), the statement counts as changing anything.
 */
export function analyzeSql(sql: string): SqlEffect {
  let first: SqlEffect | undefined
  for (const dialect of DIALECTS) {
    let effect: SqlEffect
    try {
      effect = analyzeTokens(tokenize(sql, dialect))
    } catch (error) {
      if (error instanceof Unreadable) return ALL
      throw error
    }
    if (effect.kind === 'all') return ALL
    if (first === undefined) first = effect
    else if (JSON.stringify(first) !== JSON.stringify(effect)) return ALL
  }
  return first ?? ALL
}

function analyzeTokens(all: Token[]): SqlEffect {
  // One statement: a `;` is allowed only at the end.
  let tokens = all
  while (tokens.length > 0 && isPunct(tokens[tokens.length - 1], ';')) tokens = tokens.slice(0, -1)
  if (tokens.some((token) => isPunct(token, ';'))) return ALL
  let start = 0
  while (isPunct(tokens[start], '(')) start++
  const head = tokens[start]
  if (head?.kind !== 'word') return ALL
  const reader = new TokenReader(tokens, start + 1)
  switch (head.lower) {
    case 'select':
    case 'values':
      return READ
    case 'with':
      return tokens.some((token) => token.kind === 'word' && WRITE_WORDS.has(token.lower)) ? ALL : READ
    case 'insert':
    case 'replace':
      return insertEffect(reader, tokens, head.lower === 'replace')
    case 'update':
      return updateEffect(reader)
    case 'delete':
      return deleteEffect(reader)
    case 'truncate':
      return truncateEffect(reader)
    case 'merge':
      if (!reader.acceptWord('into')) return ALL
      return tables([{ ...reader.tableName(), change: 'write' }])
    case 'alter':
      if (!reader.acceptWord('table')) return ALL
      if (reader.acceptWord('if')) reader.expectWord('exists')
      reader.acceptWord('only')
      return tables([{ ...reader.tableName(), change: 'write' }])
    default:
      // CALL, DO, EXEC, CREATE, DROP, SET, COPY, EXPLAIN ANALYZE…: unknown effects.
      return ALL
  }
}

// In a CTE (PostgreSQL's data-modifying WITH, or WITH … INSERT/UPDATE/DELETE in any dialect).
const WRITE_WORDS = new Set(['insert', 'update', 'delete', 'merge'])
const INSERT_MODIFIERS = new Set(['low_priority', 'delayed', 'high_priority', 'ignore'])
const UPDATE_MODIFIERS = new Set(['low_priority', 'ignore', 'only'])
const DELETE_MODIFIERS = new Set(['low_priority', 'quick', 'ignore'])
const SQLITE_CONFLICT = new Set(['replace', 'ignore', 'abort', 'fail', 'rollback'])
// Words after `DELETE FROM <table> [alias]` that end the table list.
const DELETE_CLAUSES = new Set(['where', 'using', 'returning', 'order', 'limit', 'partition'])
const JOINS = new Set(['join', 'inner', 'left', 'right', 'outer', 'cross', 'natural', 'straight_join', 'full'])

function insertEffect(reader: TokenReader, tokens: Token[], replace: boolean): SqlEffect {
  let replaces = replace
  // SQLite: INSERT OR REPLACE / OR IGNORE…
  if (reader.acceptWord('or')) {
    const action = reader.word()
    if (!SQLITE_CONFLICT.has(action)) return ALL
    replaces ||= action === 'replace'
  }
  while (reader.peekWord(INSERT_MODIFIERS)) reader.word()
  // MySQL allows INSERT without INTO.
  reader.acceptWord('into')
  const table = reader.tableName()
  // An upsert updates existing rows: ON CONFLICT … DO UPDATE, ON DUPLICATE KEY UPDATE, REPLACE.
  const updates =
    replaces ||
    tokens.some((token) => token.kind === 'word' && (token.lower === 'conflict' || token.lower === 'duplicate'))
  return tables([{ ...table, change: updates ? 'write' : 'insert' }])
}

/** `UPDATE t SET …`, PostgreSQL's `UPDATE t AS a SET … FROM u`, MySQL's `UPDATE t1 JOIN t2 ON … SET …` (writes both). */
function updateEffect(reader: TokenReader): SqlEffect {
  if (reader.acceptWord('or') && !SQLITE_CONFLICT.has(reader.word())) return ALL
  while (reader.peekWord(UPDATE_MODIFIERS)) reader.word()
  const written: TableWrite[] = [{ ...reader.tableName(), change: 'write' }]
  // Every table named before SET may be written (MySQL multi-table UPDATE).
  for (;;) {
    const token = reader.next()
    if (token === undefined) return ALL
    if (token.kind === 'word' && token.lower === 'set') break
    if (isPunct(token, '(')) return ALL
    if (isPunct(token, ',') || (token.kind === 'word' && token.lower === 'join')) {
      written.push({ ...reader.tableName(), change: 'write' })
    }
  }
  return tables(written)
}

/** `DELETE FROM t [alias] [WHERE|USING|RETURNING…]`; MySQL's multi-table forms count as unknown. */
function deleteEffect(reader: TokenReader): SqlEffect {
  while (reader.peekWord(DELETE_MODIFIERS)) reader.word()
  if (!reader.acceptWord('from')) return ALL
  reader.acceptWord('only')
  const table = reader.tableName()
  reader.acceptPunct('*')
  const next = reader.peek()
  const alias = next !== undefined && (next.kind === 'ident' || (next.kind === 'word' && !isClause(next.lower)))
  if (alias) {
    reader.acceptWord('as')
    reader.next()
  }
  const after = reader.peek()
  if (after !== undefined && !(after.kind === 'word' && DELETE_CLAUSES.has(after.lower))) return ALL
  return tables([{ ...table, change: 'write' }])
}

function isClause(word: string): boolean {
  return DELETE_CLAUSES.has(word) || JOINS.has(word)
}

/** `TRUNCATE [TABLE] [ONLY] a [*], b … [RESTART IDENTITY] [RESTRICT]`; CASCADE empties unnamed tables too. */
function truncateEffect(reader: TokenReader): SqlEffect {
  reader.acceptWord('table')
  const written: TableWrite[] = []
  do {
    reader.acceptWord('only')
    written.push({ ...reader.tableName(), change: 'write' })
    reader.acceptPunct('*')
  } while (reader.acceptPunct(','))
  for (let token = reader.next(); token !== undefined; token = reader.next()) {
    if (token.kind !== 'word' || !['restart', 'continue', 'identity', 'restrict'].includes(token.lower)) return ALL
  }
  return tables(written)
}

function tables(written: TableWrite[]): SqlEffect {
  return { kind: 'tables', tables: written }
}

function isPunct(token: Token | undefined, value: string): boolean {
  return token?.kind === 'punct' && token.value === value
}

class TokenReader {
  #index: number

  constructor(
    readonly tokens: readonly Token[],
    start: number,
  ) {
    this.#index = start
  }

  peek(): Token | undefined {
    return this.tokens[this.#index]
  }

  next(): Token | undefined {
    return this.tokens[this.#index++]
  }

  peekWord(words: ReadonlySet<string>): boolean {
    const token = this.peek()
    return token?.kind === 'word' && words.has(token.lower)
  }

  acceptWord(word: string): boolean {
    const token = this.peek()
    if (token?.kind !== 'word' || token.lower !== word) return false
    this.#index++
    return true
  }

  expectWord(word: string): void {
    if (!this.acceptWord(word)) throw new Unreadable()
  }

  acceptPunct(value: string): boolean {
    if (!isPunct(this.peek(), value)) return false
    this.#index++
    return true
  }

  word(): string {
    const token = this.next()
    if (token?.kind !== 'word') throw new Unreadable()
    return token.lower
  }

  /** `name`, `"Name"`, `schema.name`, `` `db`.`name` ``: the last part. */
  tableName(): { name: string; quoted: boolean } {
    let part = this.#identifier()
    while (this.acceptPunct('.')) part = this.#identifier()
    return part
  }

  #identifier(): { name: string; quoted: boolean } {
    const token = this.next()
    if (token?.kind === 'ident') return { name: token.value, quoted: true }
    if (token?.kind === 'word') return { name: token.value, quoted: false }
    throw new Unreadable()
  }
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/
const DOLLAR_TAG = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/

function tokenize(sql: string, dialect: Dialect): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < sql.length) {
    const char = sql[i]!
    const next = sql[i + 1]
    if (/\s/.test(char)) {
      i++
    } else if ((char === '-' && next === '-' && isCommentDash(sql, i, dialect)) || (dialect.mysql && char === '#')) {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
    } else if (char === '/' && next === '*') {
      // MySQL runs the SQL inside `/*! … */` comments.
      if (sql[i + 2] === '!' || sql[i + 2] === '+') throw new Unreadable()
      i = skipBlockComment(sql, i, dialect.nestedComments)
    } else if (char === "'") {
      i = skipQuoted(sql, i, "'", dialect.mysql)
      tokens.push({ kind: 'string' })
    } else if (char === '"' || char === '`' || char === '[') {
      const close = char === '[' ? ']' : char
      // Without ANSI_QUOTES, MySQL reads "…" as a string, with backslash escapes.
      const end = skipQuoted(sql, i, close, dialect.mysql && char === '"')
      tokens.push({ kind: 'ident', value: sql.slice(i + 1, end - 1).replaceAll(close + close, close) })
      i = end
    } else if (char === '$') {
      const tag = DOLLAR_TAG.exec(sql.slice(i))
      if (tag !== null) {
        const end = sql.indexOf(tag[0], i + tag[0].length)
        if (end === -1) throw new Unreadable()
        tokens.push({ kind: 'string' })
        i = end + tag[0].length
      } else {
        i++
        while (i < sql.length && /[0-9]/.test(sql[i]!)) i++
        tokens.push({ kind: 'param' })
      }
    } else if (char === '?') {
      tokens.push({ kind: 'param' })
      i++
    } else if (WORD_START.test(char)) {
      let end = i + 1
      while (end < sql.length && WORD_PART.test(sql[end]!)) end++
      const value = sql.slice(i, end)
      tokens.push({ kind: 'word', value, lower: value.toLowerCase() })
      i = end
    } else {
      tokens.push({ kind: 'punct', value: char })
      i++
    }
  }
  return tokens
}

/** In MySQL, `--` starts a comment only when a space or control character follows it. */
function isCommentDash(sql: string, i: number, dialect: Dialect): boolean {
  if (!dialect.mysql) return true
  const after = sql[i + 2]
  return after === undefined || after <= ' '
}

function skipBlockComment(sql: string, start: number, nested: boolean): number {
  let depth = 0
  let i = start
  while (i < sql.length) {
    if (sql.startsWith('/*', i) && (nested || depth === 0)) {
      depth++
      i += 2
    } else if (sql.startsWith('*/', i)) {
      depth--
      i += 2
      if (depth === 0) return i
    } else {
      i++
    }
  }
  throw new Unreadable()
}

/** Index just past the closing quote; a doubled quote is an escaped one, and so is `\x` when `backslash`. */
function skipQuoted(sql: string, start: number, close: string, backslash: boolean): number {
  let i = start + 1
  while (i < sql.length) {
    const char = sql[i]!
    if (backslash && char === '\\') {
      i += 2
    } else if (char === close) {
      if (sql[i + 1] === close) i += 2
      else return i + 1
    } else {
      i++
    }
  }
  throw new Unreadable()
}
