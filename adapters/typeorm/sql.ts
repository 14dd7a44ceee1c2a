/**
 * A small SQL tokenizer: enough to find statement boundaries, keywords, table
 * names and placeholders in the SQL TypeORM generates (and in raw SQL users
 * send), without a full grammar. Strings, quoted identifiers and comments are
 * read as single tokens, so nothing inside them is ever taken for a keyword.
 */

/** How placeholders and quotes are written: decides what `$1`, `?` and `"x"` mean. */
export type Dialect = 'postgres' | 'mysql' | 'sqlite' | 'other'

export type TokenKind = 'word' | 'ident' | 'string' | 'number' | 'param' | 'punct' | 'op'

export interface Token {
  readonly kind: TokenKind
  /**
   * `word`: upper-cased; `ident`: the unquoted name; `string`: the unescaped text;
   * `number`: as written; `param`: the 0-based index into the parameters; else the characters.
   */
  readonly value: string
  /** Parenthesis depth: a `(` and its `)` are at the outer depth, what is between them one deeper. */
  readonly depth: number
  /** For words: the text as written (words are compared upper-cased, but names keep their case). */
  readonly text: string
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/
const DIGIT = /[0-9]/
const NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/
const DOLLAR_TAG = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/

export function tokenize(sql: string, dialect: Dialect): Token[] {
  const tokens: Token[] = []
  let depth = 0
  let nextParam = 0
  let i = 0
  const push = (kind: TokenKind, value: string, text = value, at = depth) => {
    tokens.push({ kind, value, depth: at, text })
  }
  while (i < sql.length) {
    const char = sql[i]!
    const next = sql[i + 1]
    if (char === ' ' || char === '\n' || char === '\t' || char === '\r' || char === '\f') {
      i++
    } else if ((char === '-' && next === '-') || (char === '#' && dialect === 'mysql')) {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
    } else if (char === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2)
      i = end === -1 ? sql.length : end + 2
    } else if (char === "'") {
      const [value, end] = readQuoted(sql, i, "'", dialect === 'mysql')
      push('string', value)
      i = end
    } else if (char === '"') {
      // MySQL without ANSI_QUOTES reads "…" as a string; everywhere else it is a name.
      const [value, end] = readQuoted(sql, i, '"', dialect === 'mysql')
      push(dialect === 'mysql' ? 'string' : 'ident', value)
      i = end
    } else if (char === '`') {
      const [value, end] = readQuoted(sql, i, '`', false)
      push('ident', value)
      i = end
    } else if (char === '[' && dialect === 'other') {
      const end = sql.indexOf(']', i)
      const stop = end === -1 ? sql.length : end
      push('ident', sql.slice(i + 1, stop))
      i = stop + 1
    } else if (char === '$' && dialect === 'postgres' && next !== undefined && DIGIT.test(next)) {
      let end = i + 1
      while (end < sql.length && DIGIT.test(sql[end]!)) end++
      push('param', String(Number(sql.slice(i + 1, end)) - 1), sql.slice(i, end))
      i = end
    } else if (char === '$' && dialect === 'postgres' && DOLLAR_TAG.test(sql.slice(i, i + 64))) {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 64))![0]
      const end = sql.indexOf(tag, i + tag.length)
      const stop = end === -1 ? sql.length : end
      push('string', sql.slice(i + tag.length, stop))
      i = stop + tag.length
    } else if (char === '?' && (dialect === 'mysql' || dialect === 'sqlite')) {
      push('param', String(nextParam++), '?')
      i++
    } else if (DIGIT.test(char) || (char === '.' && next !== undefined && DIGIT.test(next))) {
      const match = NUMBER.exec(sql.slice(i, i + 64))![0]
      push('number', match)
      i += match.length
    } else if (WORD_START.test(char)) {
      let end = i + 1
      while (end < sql.length && WORD_PART.test(sql[end]!)) end++
      const text = sql.slice(i, end)
      // PostgreSQL E'…' strings take backslash escapes.
      if (dialect === 'postgres' && (text === 'E' || text === 'e') && sql[end] === "'") {
        const [value, stop] = readQuoted(sql, end, "'", true)
        push('string', value)
        i = stop
      } else {
        push('word', text.toUpperCase(), text)
        i = end
      }
    } else if (char === '(') {
      push('punct', '(')
      depth++
      i++
    } else if (char === ')') {
      depth = Math.max(0, depth - 1)
      push('punct', ')')
      i++
    } else if (char === ',' || char === '.' || char === ';') {
      push('punct', char)
      i++
    } else if (char === '<' || char === '>' || char === '=' || char === '!') {
      let end = i + 1
      while (end < sql.length && '<>=!'.includes(sql[end]!)) end++
      push('op', sql.slice(i, end))
      i = end
    } else if (char === ':' && next === ':') {
      push('op', '::')
      i += 2
    } else {
      push('op', char)
      i++
    }
  }
  return tokens
}

function readQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): [string, number] {
  let value = ''
  let i = start + 1
  while (i < sql.length) {
    const char = sql[i]!
    if (backslashEscapes && char === '\\' && i + 1 < sql.length) {
      value += sql[i + 1]
      i += 2
    } else if (char === quote) {
      if (sql[i + 1] === quote) {
        value += quote
        i += 2
      } else {
        return [value, i + 1]
      }
    } else {
      value += char
      i++
    }
  }
  return [value, sql.length]
}

/** Splits a token list into statements at top-level semicolons, dropping empty ones. */
export function splitStatements(tokens: readonly Token[]): Token[][] {
  const statements: Token[][] = []
  let current: Token[] = []
  for (const token of tokens) {
    if (token.kind === 'punct' && token.value === ';' && token.depth === 0) {
      if (current.length > 0) statements.push(current)
      current = []
    } else {
      current.push(token)
    }
  }
  if (current.length > 0) statements.push(current)
  return statements
}

export function isWord(token: Token | undefined, ...words: string[]): boolean {
  return token !== undefined && token.kind === 'word' && words.includes(token.value)
}

export function isPunct(token: Token | undefined, value: string): boolean {
  return token !== undefined && token.kind === 'punct' && token.value === value
}

/** Index of the `)` that closes the `(` at `open`, or the end of `tokens`. */
export function closingParen(tokens: readonly Token[], open: number): number {
  const depth = tokens[open]!.depth
  for (let i = open + 1; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token.kind === 'punct' && token.value === ')' && token.depth === depth) return i
  }
  return tokens.length
}

/**
 * A name in lower case, quoted or not. Two tables whose names differ only in
 * case then share their tags: that invalidates more, never less.
 */
export function nameOf(token: Token): string {
  return (token.kind === 'ident' ? token.value : token.text).toLowerCase()
}

export function isName(token: Token | undefined): token is Token {
  return token !== undefined && (token.kind === 'ident' || token.kind === 'word')
}
