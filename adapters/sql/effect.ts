import { DIALECT_RULES, type LexicalRules } from './lexer.js'
import { parseSql, type Statement } from './statements.js'

/**
 * What one raw SQL statement of an unknown dialect can change, read from its
 * text: nothing (a plain read), the named tables, or anything (`all`) when
 * that cannot be told with certainty: several statements, a CTE that writes,
 * SELECT … INTO, procedures, `DO` blocks, DDL other than ALTER TABLE,
 * TRUNCATE … CASCADE, MySQL executable comments, and any text it cannot read.
 * Triggers and writing functions called from a statement are invisible to it.
 */
export type SqlEffect =
  | { readonly kind: 'read' }
  | { readonly kind: 'all' }
  | { readonly kind: 'tables'; readonly tables: readonly TableWrite[] }

export interface TableWrite {
  /** The table's name, without schema or quotes, in lower case (`"public"."User"` is `user`). */
  readonly name: string
  /** `insert` adds rows only; `write` may update or delete existing ones (and so fire referential actions). */
  readonly change: 'insert' | 'write'
}

// SQLite's quoting (ANSI plus brackets and backticks), PostgreSQL's dollar quotes, MySQL's executable comments.
const ANY_DIALECT: LexicalRules = { ...DIALECT_RULES.sqlite, dollar: true, executableComments: true }

/**
 * The lexical rules a statement is read under when its database is not known
 * for sure: ANSI, PostgreSQL's and MySQL's (whose `"…"` is a name under
 * ANSI_QUOTES, and a string where a table name would be a syntax error without).
 */
const RULES_TRIED: readonly LexicalRules[] = [
  ANY_DIALECT,
  { ...ANY_DIALECT, nestedComments: true, escapeStrings: true },
  { ...ANY_DIALECT, backslashEscapes: true, hashComments: true, dashCommentNeedsSpace: true },
]

const ALL: SqlEffect = { kind: 'all' }

/**
 * Reads `sql` under the lexical rules of each supported dialect; when they
 * disagree (a backslash or a nested comment that one dialect reads as ending
 * a literal and another not), the statement counts as changing anything.
 */
export function analyzeSql(sql: string): SqlEffect {
  let first: SqlEffect | undefined
  for (const rules of RULES_TRIED) {
    const statements = parseSql(sql, rules)
    const effect = statements.length === 1 ? effectOf(statements[0]!) : ALL
    if (effect.kind === 'all') return ALL
    if (first === undefined) first = effect
    else if (JSON.stringify(first) !== JSON.stringify(effect)) return ALL
  }
  return first ?? ALL
}

// Rewrites whose tables are all it changes; DDL and loads may change what any statement means.
const TABLE_REWRITES = new Set(['TRUNCATE', 'MERGE', 'ALTER', 'UPDATE'])

function effectOf(statement: Statement): SqlEffect {
  switch (statement.kind) {
    case 'select':
      return { kind: 'read' }
    case 'insert':
      return tables([statement.table], statement.upsert ? 'write' : 'insert')
    case 'update':
    case 'delete':
      return tables(statement.targets, 'write')
    case 'rewrite':
      if (statement.cascade === 'all' || !TABLE_REWRITES.has(statement.command)) return ALL
      return tables(statement.tables, 'write')
    default:
      // Transaction control, session settings and what cannot be read: unknown effects.
      return ALL
  }
}

function tables(names: readonly string[], change: TableWrite['change']): SqlEffect {
  return { kind: 'tables', tables: names.map((name) => ({ name, change })) }
}
