import type { QueryRunner } from 'typeorm'
import type { ReadMarks } from './marks.js'
import type { QueryResultCache, QueryResultCacheOptions } from './typeorm-internals.js'
import type { WriteTags } from './writes.js'

/** What the provider needs from the adapter. */
export interface ProviderContext {
  readonly marks: ReadMarks
  open(): void
  close(): Promise<void>
  invalidate(tags: WriteTags): Promise<void>
}

/**
 * TypeORM's `QueryResultCache`, implemented as a signal rather than a store:
 * `getFromCache` always misses and marks the read for the query runner, which
 * caches it with its types intact (see `instrumentQueryRunner`). TypeORM's
 * cache API keeps its meaning: `queryResultCache.remove([id])` invalidates
 * the reads cached under that id, `clear()` invalidates everything (an
 * invalidation, not Redis FLUSHDB).
 */
export class MarkingQueryResultCache implements QueryResultCache {
  readonly #context: ProviderContext

  constructor(context: ProviderContext) {
    this.#context = context
  }

  async connect(): Promise<void> {
    this.#context.open()
  }

  async disconnect(): Promise<void> {
    await this.#context.close()
  }

  async synchronize(): Promise<void> {}

  async getFromCache(options: QueryResultCacheOptions, queryRunner?: QueryRunner): Promise<undefined> {
    if (queryRunner !== undefined && options.query !== undefined) {
      this.#context.marks.add(queryRunner, options.query, {
        identifier: options.identifier || undefined,
        duration: options.duration,
      })
    }
    return undefined
  }

  async storeInCache(): Promise<void> {}

  isExpired(): boolean {
    return true
  }

  async clear(): Promise<void> {
    await this.#context.invalidate('all')
  }

  async remove(identifiers: string[]): Promise<void> {
    await this.#context.invalidate(identifiers.map((identifier) => `q:${identifier}`))
  }
}
