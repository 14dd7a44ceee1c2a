import { createHash } from 'node:crypto'
import type { DataSource } from 'typeorm'
import { type AdapterCache, createAdapterCache } from '../../src/cache.js'
import { CacheClosedError, InvalidUsageError } from '../../src/errors.js'
import type { CacheStats } from '../../src/stats.js'
import { TAG_FORMAT } from '../../src/table-tags.js'
import type { Dialect } from '../sql/lexer.js'
import { Analyzer } from './analyzer.js'
import { ReadMarks } from './marks.js'
import { checkEntityNames, type ResolvedTypeormOptions } from './options.js'
import { PersistenceScope } from './persistence.js'
import { MarkingQueryResultCache } from './provider.js'
import { instrumentQueryRunner, type RunnerContext } from './query-runner.js'
import type { ReadPlan } from './reads.js'
import { connectionIdentity, SchemaIndex } from './schema.js'
import { wholeTableTags } from './tags.js'
import { afterMetadataBuilt, wrapEntityManagers, wrapQueryRunners } from './typeorm-internals.js'
import type { WriteTags } from './writes.js'

/**
 * The cache of one DataSource: made by the `cache.provider` factory that
 * `withCache` puts in its options (TypeORM calls it from the DataSource
 * constructor), it instruments that DataSource's query runners and managers,
 * opens the engine at `initialize()` and closes it at `destroy()`.
 */
export class TypeormCacheAdapter implements RunnerContext {
  readonly dialect: Dialect
  readonly marks = new ReadMarks()
  readonly provider: MarkingQueryResultCache
  readonly #dataSource: DataSource
  readonly #options: ResolvedTypeormOptions
  readonly #persistence = new PersistenceScope()
  #engine: AdapterCache | undefined
  /** The engine of the last open/close cycle: its counters stay readable after destroy(). */
  #closed: AdapterCache | undefined
  #analyzer: Analyzer | undefined
  #namespace: string | undefined

  constructor(dataSource: DataSource, options: ResolvedTypeormOptions) {
    this.#dataSource = dataSource
    this.#options = options
    this.dialect = dialectOf(dataSource.options.type)
    this.provider = new MarkingQueryResultCache({
      marks: this.marks,
      open: () => this.#open(),
      close: () => this.#close(),
      invalidate: (tags) => this.invalidate(tags),
    })
    this.#instrument(dataSource)
  }

  analyzer(): Analyzer {
    if (this.#analyzer === undefined) {
      const schema = new SchemaIndex(this.#dataSource.entityMetadatas)
      this.#analyzer = new Analyzer(this.dialect, schema, this.#options.entities)
      // Before the metadata is built (driver setup queries) the schema is empty: do not keep it.
      if (this.#dataSource.entityMetadatas.length === 0) {
        const analyzer = this.#analyzer
        this.#analyzer = undefined
        return analyzer
      }
    }
    return this.#analyzer
  }

  namespace(): string {
    if (this.#namespace === undefined) {
      this.#namespace = createHash('sha256')
        .update(TAG_FORMAT)
        .update(connectionIdentity(this.#dataSource))
        .update(this.analyzer().schema.fingerprint)
        .digest('base64url')
        .slice(0, 12)
    }
    return this.#namespace
  }

  persisting(): boolean {
    return this.#persistence.active
  }

  async load(plan: ReadPlan, loader: () => Promise<unknown[]>): Promise<unknown[]> {
    // Not open (a query before initialize() finished, or after destroy()): straight to the database.
    if (this.#engine === undefined) return loader()
    return this.#engine.getOrLoad(plan.key, plan.tags, loader, plan.options)
  }

  async invalidate(tags: WriteTags): Promise<void> {
    const engine = this.#engine
    if (engine === undefined) return
    try {
      if (tags === 'all') await engine.invalidateAll()
      else if (tags.length > 0) await engine.invalidate({ tags: [...new Set(tags)] })
    } catch (error) {
      // destroy() raced the write: this process serves nothing from the cache any more.
      if (!(error instanceof CacheClosedError)) throw error
    }
  }

  /** Tags for `cacheOf(dataSource).invalidate`: entity and table names mean the whole table, anything else a cache id. */
  tagsFor(names: readonly string[]): string[] {
    const schema = this.analyzer().schema
    return names.flatMap((name) => {
      const table =
        schema.entityTables.get(name) ?? (schema.tables.has(name.toLowerCase()) ? name.toLowerCase() : undefined)
      return table === undefined ? [`q:${name}`] : wholeTableTags(table)
    })
  }

  stats(): CacheStats {
    const stats = (this.#engine ?? this.#closed)?.stats()
    if (stats === undefined) {
      throw new InvalidUsageError(
        'the DataSource has not been initialized yet; call stats() after `await dataSource.initialize()`',
      )
    }
    return stats
  }

  #open(): void {
    this.#engine ??= createAdapterCache(this.#options.cache)
  }

  async #close(): Promise<void> {
    const engine = this.#engine
    if (engine === undefined) return
    this.#closed = engine
    this.#engine = undefined
    await engine.close()
  }

  #instrument(dataSource: DataSource): void {
    wrapQueryRunners(dataSource, (runner) => instrumentQueryRunner(runner, this))
    wrapEntityManagers(dataSource, (manager) => this.#persistence.instrument(manager))
    afterMetadataBuilt(dataSource, () => {
      // Throwing here fails initialize().
      checkEntityNames(
        this.#options.entities,
        this.#dataSource.entityMetadatas.map((metadata) => metadata.name),
      )
      this.#analyzer = undefined
      this.#namespace = undefined
    })
  }
}

function dialectOf(type: string): Dialect {
  switch (type) {
    case 'postgres':
    case 'cockroachdb':
      return 'postgres'
    case 'mysql':
    case 'mariadb':
    case 'aurora-mysql':
      return 'mysql'
    case 'sqlite':
    case 'better-sqlite3':
    case 'capacitor':
    case 'cordova':
    case 'expo':
    case 'nativescript':
    case 'react-native':
    case 'sqljs':
      return 'sqlite'
    default:
      return 'other'
  }
}
