// The tokenizer both adapters read SQL with: what is a keyword, a name, a
// placeholder, and what text cannot be read at all under a dialect's rules.
import { describe, expect, test } from 'vitest'
import { DIALECT_RULES, type Dialect, tokenize } from '../../../adapters/sql/lexer.js'

function tokens(sql: string, dialect: Dialect) {
  const read = tokenize(sql, DIALECT_RULES[dialect])
  if (read === undefined) throw new Error(`unreadable: ${sql}`)
  return read
}

const words = (sql: string, dialect: Dialect) =>
  tokens(sql, dialect)
    .filter((token) => token.kind === 'word')
    .map((token) => token.value)

describe('tokenize', () => {
  test('keywords inside strings, quoted names, comments and dollar quotes are not keywords', () => {
    expect(
      words(
        `SELECT 'DELETE FROM x', "UPDATE" -- INSERT INTO y\n /* DROP TABLE z */ FROM t WHERE a = $tag$ TRUNCATE u $tag$ OR b = E'\\' DELETE'`,
        'postgres',
      ),
    ).toStrictEqual(['SELECT', 'FROM', 'T', 'WHERE', 'A', 'OR', 'B'])
  })

  test('placeholders follow the dialect', () => {
    const pg = tokens('a = $2 AND b ? c', 'postgres').filter((token) => token.kind === 'param')
    expect(pg.map((token) => token.value)).toStrictEqual(['1'])
    const mysql = tokens("a = ? AND b = '?' AND c = ?", 'mysql').filter((token) => token.kind === 'param')
    expect(mysql.map((token) => token.value)).toStrictEqual(['0', '1'])
    // MySQL: backticks are names, double quotes strings, backslash escapes.
    const names = tokens('SELECT `user`.`id` FROM `db`.`user` WHERE x = "a\\"b"', 'mysql')
    expect(names.filter((token) => token.kind === 'ident').map((token) => token.value)).toStrictEqual([
      'user',
      'id',
      'db',
      'user',
    ])
    expect(names.find((token) => token.kind === 'string')?.value).toBe('a"b')
  })

  test('quoting rules per dialect: brackets in SQLite, doubled quotes everywhere', () => {
    expect(tokens('DELETE FROM [my]]table]', 'sqlite').at(-1)).toMatchObject({ kind: 'ident', value: 'my]table' })
    expect(tokens('DELETE FROM "a""b"', 'postgres').at(-1)).toMatchObject({ kind: 'ident', value: 'a"b' })
    expect(tokens("SELECT 'it''s'", 'sqlite').at(-1)).toMatchObject({ kind: 'string', value: "it's" })
    // Only ASCII whitespace separates: a no-break space is part of a name.
    expect(tokens('FROM a\u00a0b', 'postgres').at(-1)).toMatchObject({ kind: 'word', text: 'a\u00a0b' })
  })

  test('comments end where each database ends them', () => {
    // PostgreSQL nests block comments.
    expect(words('SELECT /* /* */ * FROM a */ * FROM b', 'postgres')).toStrictEqual(['SELECT', 'FROM', 'B'])
    expect(words('SELECT /* /* */ 1 FROM a', 'mysql')).toStrictEqual(['SELECT', 'FROM', 'A'])
    // In MySQL `--` starts a comment only before whitespace; `#` always does.
    expect(words('SELECT 1--1 UNION SELECT 2 FROM b', 'mysql')).toStrictEqual([
      'SELECT',
      'UNION',
      'SELECT',
      'FROM',
      'B',
    ])
    expect(words('SELECT 1 -- UNION\n# SELECT\nFROM b', 'mysql')).toStrictEqual(['SELECT', 'FROM', 'B'])
    expect(words('SELECT 1--1 UNION\nFROM b', 'postgres')).toStrictEqual(['SELECT', 'FROM', 'B'])
  })

  test('text that cannot be read to its end is unreadable', () => {
    for (const [sql, dialect] of [
      ["UPDATE t SET a = 'unterminated", 'postgres'],
      ['UPDATE "t SET a = 1', 'sqlite'],
      ['UPDATE t SET a = 1 /* open', 'mysql'],
      ['UPDATE t SET a = 1 /* /* */', 'postgres'],
      ['UPDATE t SET a = $$ open', 'postgres'],
      ['UPDATE [t SET a = 1', 'sqlite'],
      // MySQL and MariaDB run the text of executable comments.
      ['/*! DELETE FROM u */ UPDATE t SET a = 1', 'mysql'],
      ['/*M! DELETE FROM u */ UPDATE t SET a = 1', 'mysql'],
      ['SELECT /*+ BKA(t) */ * FROM t', 'mysql'],
    ] as const) {
      expect(tokenize(sql, DIALECT_RULES[dialect]), sql).toBeUndefined()
    }
    // Elsewhere those are comments.
    expect(words('/*! DELETE FROM u */ UPDATE t SET a = 1', 'postgres')).toStrictEqual(['UPDATE', 'T', 'SET', 'A'])
  })
})
