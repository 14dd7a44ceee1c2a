import type { Token } from './lexer.js'

// Reading a token list: statement boundaries, keywords, parentheses and names.

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
