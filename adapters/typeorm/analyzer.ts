import { hashArgs } from '../../src/keys.js'
import { DIALECT_RULES, type Dialect } from '../sql/lexer.js'
import { parseSql, type SelectStatement, type Statement } from '../sql/statements.js'
import type { EntitySetting } from './options.js'
import type { SchemaIndex } from './schema.js'
import { type Restriction, restrictionOf } from './where.js'

/** What a SELECT means for caching, independent of its parameters. */
export interface ReadShape {
  /** False for reads of views, of entities configured `false`, or of no table at all. */
  readonly cacheable: boolean
  /** Every table the read touches, once each. */
  readonly tables: readonly string[]
  /** The table whose rows the read selects by primary key, when it does. */
  readonly byKey:
    | { readonly table: string; readonly columns: readonly string[]; readonly restriction: Restriction }
    | undefined
  /** The shortest `ttl` / `swr` configured for an entity the read touches. */
  readonly ttlMs: number | undefined
  readonly swrMs: number | undefined
  /** A digest of the SQL text, part of every key of its reads: hashed once per text, not per read. */
  readonly textDigest: string
}

export interface Analysis {
  readonly statements: readonly Statement[]
  /** Set when the SQL is exactly one SELECT. */
  readonly read: ReadShape | undefined
}

// TypeORM sends the same few hundred SQL texts over and over with new parameters;
// parsing each once keeps the hot path to a map lookup.
const MAX_MEMO = 2_000

/** Parses SQL once per text and per DataSource (the result depends on its schema and entity settings). */
export class Analyzer {
  readonly #dialect: Dialect
  readonly #schema: SchemaIndex
  readonly #entities: ReadonlyMap<string, EntitySetting>
  readonly #memo = new Map<string, Analysis>()

  constructor(dialect: Dialect, schema: SchemaIndex, entities: ReadonlyMap<string, EntitySetting>) {
    this.#dialect = dialect
    this.#schema = schema
    this.#entities = entities
  }

  get schema(): SchemaIndex {
    return this.#schema
  }

  analyze(sql: string): Analysis {
    const known = this.#memo.get(sql)
    if (known !== undefined) return known
    const statements = parseSql(sql, DIALECT_RULES[this.#dialect])
    const only = statements.length === 1 ? statements[0] : undefined
    const analysis: Analysis = { statements, read: only?.kind === 'select' ? this.#readShape(only, sql) : undefined }
    if (this.#memo.size >= MAX_MEMO) this.#memo.delete(this.#memo.keys().next().value!)
    this.#memo.set(sql, analysis)
    return analysis
  }

  #readShape(select: SelectStatement, sql: string): ReadShape {
    const tables = [...new Set(select.tables)]
    let cacheable = tables.length > 0
    let ttlMs: number | undefined
    let swrMs: number | undefined
    for (const table of tables) {
      const info = this.#schema.tables.get(table)
      if (info?.isView) cacheable = false
      for (const entity of info?.entities ?? []) {
        const setting = this.#entities.get(entity)
        if (setting === undefined) continue
        if (setting === false) {
          cacheable = false
          continue
        }
        if (setting.ttlMs !== undefined) ttlMs = Math.min(ttlMs ?? Number.POSITIVE_INFINITY, setting.ttlMs)
        if (setting.swrMs !== undefined) swrMs = Math.min(swrMs ?? Number.POSITIVE_INFINITY, setting.swrMs)
      }
    }
    return { cacheable, tables, byKey: this.#byKey(select), ttlMs, swrMs, textDigest: hashArgs(sql) }
  }

  /**
   * A read depends on rows of its main table only when that table occurs once
   * in the statement (a second occurrence, in a subquery say, may read any row)
   * and its WHERE pins the primary key.
   */
  #byKey(select: SelectStatement): ReadShape['byKey'] {
    const main = select.main
    if (main === undefined) return undefined
    const info = this.#schema.tables.get(main.table)
    if (info === undefined || info.primaryColumns.length === 0 || info.isView) return undefined
    if (select.tables.filter((table) => table === main.table).length !== 1) return undefined
    const qualifiers = new Set([main.table])
    if (main.alias !== undefined) qualifiers.add(main.alias)
    if (select.tables.length === 1) qualifiers.add('')
    const restriction = restrictionOf(main.where, { columns: new Set(info.primaryColumns), qualifiers })
    if (restriction === undefined) return undefined
    return { table: main.table, columns: info.primaryColumns, restriction }
  }
}
