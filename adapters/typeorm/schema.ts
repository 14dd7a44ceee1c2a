import { createHash } from 'node:crypto'
import type { DataSource, EntityMetadata } from 'typeorm'
import { compareColumnNames } from '../../src/table-tags.js'

/** What the adapter needs to know about one table, from TypeORM's metadata. */
export interface TableInfo {
  readonly name: string
  /** Entity names mapped to the table (several under single-table inheritance). */
  readonly entities: readonly string[]
  /** Primary key column names, lower case, in metadata order. */
  readonly primaryColumns: readonly string[]
  /** The same, as the database returns them in rows (RETURNING). */
  readonly primaryColumnNames: readonly string[]
  /** The primary key column, when there is exactly one and the database generates it by increment. */
  readonly incrementColumn: string | undefined
  /** Views: which tables a view reads is not in the metadata, so its reads are not cached. */
  readonly isView: boolean
}

interface ForeignKey {
  readonly child: string
  readonly onDelete: string
  readonly onUpdate: string
  /** Columns of the referenced table the key points at, lower case. */
  readonly referencedColumns: readonly string[]
  /** The child's own key columns, lower case. */
  readonly columns: readonly string[]
}

/** How rows of a table changed, for following foreign keys to the tables that change with them. */
export type Change =
  | { readonly kind: 'delete' }
  | { readonly kind: 'update'; readonly columns: readonly string[] | undefined }
  | { readonly kind: 'all' }

const CHANGING_ACTIONS = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT'])

/**
 * Tables, primary keys and foreign keys of a DataSource, indexed by bare
 * lower-case table name, built once its metadata is.
 */
export class SchemaIndex {
  readonly tables = new Map<string, TableInfo>()
  /** Entity name → table name. */
  readonly entityTables = new Map<string, string>()
  readonly #referencing = new Map<string, ForeignKey[]>()
  /** Changes with the entities: a key of an old shape is never read by new code. */
  readonly fingerprint: string

  constructor(metadatas: readonly EntityMetadata[]) {
    const shape = createHash('sha256')
    for (const metadata of [...metadatas].sort((a, b) => a.tablePath.localeCompare(b.tablePath))) {
      const name = metadata.tableName.toLowerCase()
      const known = this.tables.get(name)
      // By column name: a row's tag lists its key values in that order, as the Prisma adapter's do.
      const primary = [...metadata.primaryColumns].sort((a, b) => compareColumnNames(a.databaseName, b.databaseName))
      const increment = primary.length === 1 && primary[0]!.generationStrategy === 'increment' ? primary[0]! : undefined
      this.tables.set(name, {
        name,
        entities: [...(known?.entities ?? []), metadata.name],
        primaryColumns: primary.map((column) => column.databaseName.toLowerCase()),
        primaryColumnNames: primary.map((column) => column.databaseName),
        incrementColumn: increment?.databaseName.toLowerCase(),
        isView: metadata.tableType === 'view',
      })
      if (!metadata.isJunction) this.entityTables.set(metadata.name, name)
      for (const key of metadata.foreignKeys) {
        const parent = key.referencedEntityMetadata.tableName.toLowerCase()
        const list = this.#referencing.get(parent) ?? []
        list.push({
          child: name,
          onDelete: (key.onDelete ?? 'NO ACTION').toUpperCase(),
          onUpdate: (key.onUpdate ?? 'NO ACTION').toUpperCase(),
          referencedColumns: key.referencedColumnNames.map((column) => column.toLowerCase()),
          columns: key.columnNames.map((column) => column.toLowerCase()),
        })
        this.#referencing.set(parent, list)
      }
      shape.update(`${metadata.tablePath}|${metadata.tableType}|`)
      for (const column of metadata.columns) {
        const type = typeof column.type === 'function' ? column.type.name : String(column.type)
        shape.update(`${column.databaseName}:${type}:${column.isArray};`)
      }
    }
    this.fingerprint = shape.digest('base64url').slice(0, 12)
  }

  /**
   * The tables whose rows change when rows of `table` change as `change` says,
   * through ON DELETE / ON UPDATE actions of foreign keys (the database runs
   * them; TypeORM never hears of it), transitively; `table` itself excluded.
   */
  affectedBy(table: string, change: Change): string[] {
    const affected = new Set<string>()
    const queue: [string, Change][] = [[table, change]]
    const seen = new Set<string>()
    while (queue.length > 0) {
      const [current, how] = queue.shift()!
      const visit = `${current}|${how.kind}|${how.kind === 'update' ? (how.columns ?? ['*']).join(',') : ''}`
      if (seen.has(visit)) continue
      seen.add(visit)
      for (const key of this.#referencing.get(current) ?? []) {
        const action =
          how.kind === 'all'
            ? 'CASCADE'
            : how.kind === 'delete'
              ? key.onDelete
              : touches(how.columns, key.referencedColumns)
                ? key.onUpdate
                : 'NO ACTION'
        if (!CHANGING_ACTIONS.has(action)) continue
        if (key.child !== table) affected.add(key.child)
        const next: Change =
          how.kind === 'all'
            ? how
            : action === 'CASCADE' && how.kind === 'delete'
              ? { kind: 'delete' }
              : { kind: 'update', columns: key.columns }
        queue.push([key.child, next])
      }
    }
    return [...affected]
  }
}

function touches(columns: readonly string[] | undefined, referenced: readonly string[]): boolean {
  return columns === undefined || columns.some((column) => referenced.includes(column))
}

/**
 * The database a DataSource talks to, without credentials: two DataSources on
 * different databases sharing one Redis prefix must not share entries, two
 * instances of one app on the same database must.
 */
export function connectionIdentity(dataSource: DataSource): string {
  // DataSourceOptions is a union of per-driver shapes; only plain fields are read.
  const options = dataSource.options as unknown as Record<string, unknown>
  const replication = options.replication as Record<string, unknown> | undefined
  const master = replication?.master as Record<string, unknown> | undefined
  const fields = [options.type, options.host, options.port, options.database, options.schema, options.sid]
  fields.push(options.socketPath, withoutPassword(options.url), master?.host, master?.port, master?.database)
  return JSON.stringify(fields.map((field) => (field === undefined ? null : String(field))))
}

function withoutPassword(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined
  try {
    const parsed = new URL(url)
    parsed.password = ''
    return parsed.toString()
  } catch {
    return createHash('sha256').update(url).digest('base64url')
  }
}
