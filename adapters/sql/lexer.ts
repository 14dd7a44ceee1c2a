/**
 * A small SQL tokenizer: enough to find statement boundaries, keywords, table
 * names and placeholders, without a full grammar. Strings, quoted identifiers
 * and comments are read as single tokens, so nothing inside them is ever taken
 * for a keyword. Text it cannot read to the end under the rules given (an
 * unterminated literal or comment, a MySQL executable comment) gives
 * `undefined`: the caller must assume the statement can change anything.
 */

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

/** The lexical rules that differ between databases (and between settings of one database). */
export interface LexicalRules {
  /** `\x` escapes a character in quoted text (MySQL; PostgreSQL's `E'…'` always). */
  readonly backslashEscapes: boolean
  /** `"…"` is a name (ANSI) or a string (MySQL without ANSI_QUOTES). */
  readonly doubleQuoted: 'ident' | 'string'
  /** `[name]` is a name (SQLite, SQL Server). */
  readonly brackets: boolean
  /** `$1` placeholders and `$tag$…$tag$` strings (PostgreSQL). */
  readonly dollar: boolean
  /** `E'…'` strings with backslash escapes (PostgreSQL). */
  readonly escapeStrings: boolean
  /** `?` placeholders, numbered in order. */
  readonly questionParams: boolean
  /** `#` starts a line comment (MySQL). */
  readonly hashComments: boolean
  /** `--` starts a comment only before a space or control character (MySQL). */
  readonly dashCommentNeedsSpace: boolean
  /** Block comments nest (PostgreSQL). */
  readonly nestedComments: boolean
  /** MySQL and MariaDB run what is inside `/*! … *\/`, `/*M! … *\/` and read `/*+ … *\/` as hints. */
  readonly executableComments: boolean
}

/** How placeholders and quotes are written in each database family an ORM connects to. */
export type Dialect = 'postgres' | 'mysql' | 'sqlite' | 'other'

const ANSI: LexicalRules = {
  backslashEscapes: false,
  doubleQuoted: 'ident',
  brackets: false,
  dollar: false,
  escapeStrings: false,
  questionParams: false,
  hashComments: false,
  dashCommentNeedsSpace: false,
  nestedComments: false,
  executableComments: false,
}

export const DIALECT_RULES: Readonly<Record<Dialect, LexicalRules>> = {
  postgres: { ...ANSI, dollar: true, escapeStrings: true, nestedComments: true },
  mysql: {
    ...ANSI,
    backslashEscapes: true,
    doubleQuoted: 'string',
    questionParams: true,
    hashComments: true,
    dashCommentNeedsSpace: true,
    executableComments: true,
  },
  sqlite: { ...ANSI, brackets: true, questionParams: true },
  other: { ...ANSI, brackets: true },
}

// ASCII only: the databases read other characters, a no-break space say, as part of a name.
const WHITESPACE = /[ \t\n\r\f\v]/
const WORD_START = /[A-Za-z_\u0080-\uffff]/
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/
const DIGIT = /[0-9]/
const NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/
const DOLLAR_TAG = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/

/** An internal signal, never seen outside `tokenize`: text it cannot read is `undefined` to callers. */
class Unreadable extends Error {}

export function tokenize(sql: string, rules: LexicalRules): Token[] | undefined {
  try {
    return readTokens(sql, rules)
  } catch (error) {
    if (error instanceof Unreadable) return undefined
    throw error
  }
}

function readTokens(sql: string, rules: LexicalRules): Token[] {
  const tokens: Token[] = []
  let depth = 0
  let nextParam = 0
  let i = 0
  const push = (kind: TokenKind, value: string, text = value) => {
    tokens.push({ kind, value, depth, text })
  }
  while (i < sql.length) {
    const char = sql[i]!
    const next = sql[i + 1]
    if (WHITESPACE.test(char)) {
      i++
    } else if ((char === '-' && next === '-' && isDashComment(sql, i, rules)) || (char === '#' && rules.hashComments)) {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
    } else if (char === '/' && next === '*') {
      if (rules.executableComments && /^\/\*(?:!|M!|\+)/.test(sql.slice(i, i + 4))) throw new Unreadable()
      i = skipBlockComment(sql, i, rules.nestedComments)
    } else if (char === "'") {
      const [value, end] = readQuoted(sql, i, "'", rules.backslashEscapes)
      push('string', value)
      i = end
    } else if (char === '"') {
      const [value, end] = readQuoted(sql, i, '"', rules.backslashEscapes)
      push(rules.doubleQuoted, value)
      i = end
    } else if (char === '`') {
      const [value, end] = readQuoted(sql, i, '`', false)
      push('ident', value)
      i = end
    } else if (char === '[' && rules.brackets) {
      const [value, end] = readQuoted(sql, i, ']', false)
      push('ident', value)
      i = end
    } else if (char === '$' && rules.dollar && next !== undefined && DIGIT.test(next)) {
      let end = i + 1
      while (end < sql.length && DIGIT.test(sql[end]!)) end++
      push('param', String(Number(sql.slice(i + 1, end)) - 1), sql.slice(i, end))
      i = end
    } else if (char === '$' && rules.dollar && DOLLAR_TAG.test(sql.slice(i, i + 64))) {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 64))![0]
      const end = sql.indexOf(tag, i + tag.length)
      if (end === -1) throw new Unreadable()
      push('string', sql.slice(i + tag.length, end))
      i = end + tag.length
    } else if (char === '?' && rules.questionParams) {
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
      if (rules.escapeStrings && (text === 'E' || text === 'e') && sql[end] === "'") {
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

function isDashComment(sql: string, i: number, rules: LexicalRules): boolean {
  if (!rules.dashCommentNeedsSpace) return true
  const after = sql[i + 2]
  return after === undefined || after <= ' '
}

/** Index just past the comment that opens at `start`. */
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

/** The unescaped text and the index just past the closing quote; a doubled quote is an escaped one. */
function readQuoted(sql: string, start: number, close: string, backslashEscapes: boolean): [string, number] {
  let value = ''
  let i = start + 1
  while (i < sql.length) {
    const char = sql[i]!
    if (backslashEscapes && char === '\\' && i + 1 < sql.length) {
      value += sql[i + 1]
      i += 2
    } else if (char === close) {
      if (sql[i + 1] === close) {
        value += close
        i += 2
      } else {
        return [value, i + 1]
      }
    } else {
      value += char
      i++
    }
  }
  throw new Unreadable()
}
