import { createHash } from 'node:crypto'
import { Prisma } from '@prisma/client/extension'
import type { Sql } from '@prisma/client/runtime/client'
import type { InvalidateOptions } from '../../src/cache.js'
import { InvalidUsageError, UnkeyableArgsError } from '../../src/errors.js'
import { hashArgs } from '../../src/keys.js'
import { DEFAULT_PREFIX } from '../../src/options.js'
import type { CacheStats } from '../../src/stats.js'
import { invalidationTags, TAG_FORMAT } from '../../src/table-tags.js'
import { analyzeSql } from '../sql/effect.js'
import { CacheHandle } from './cache-handle.js'
import { BYPASS, CacheInfoRecorder, recordServed, type WithCacheInfo } from './cache-info.js'
import { isTransactionClient, readClientInternals } from './client-internals.js'
import { registerPrismaCodec } from './decimal.js'
import { withFastReads } from './fast-reads.js'
import { type OperationParams, runOperation } from './operation.js'
import {
  checkModelNames,
  checkRawQueryOptions,
  type PrismaCacheOptions,
  type RawQueryCacheOptions,
  resolvePrismaOptions,
} from './options.js'
import { sqlText } from './raw.js'
import { RelationGraph } from './relations.js'
import { readSchema } from './schema-fallback.js'
import { expandModelNames } from './tag-names.js'
import { TransactionTracker } from './transactions.js'
import type { CachedReadMethods } from './types.js'

export type { CachedQueries } from '../../src/scoped-settings.js'
export type { CacheInfo, CacheOrigin, WithCacheInfo } from './cache-info.js'
export { READ_OPERATIONS, WRITE_OPERATIONS } from './operations.js'
export type {
  AccelerateCacheStrategy,
  ModelCacheOptions,
  PrismaCacheMode,
  PrismaCacheOptions,
  QueryCacheOption,
  RawQueryCacheOptions,
} from './options.js'
export type { CacheArg, CachedFluentApi, CachedReadMethods } from './types.js'

/** What `prisma.$cache.stats()` returns: the engine's counters and one of the adapter's. */
export interface PrismaCacheStats extends CacheStats {
  /**
   * 1 when this client's schema could not be read and invalidation fell back to
   * coarser rules (more invalidated, fewer hits); 0 otherwise. Also a process
   * warning (`ORMCACHE_SCHEMA_FALLBACK`) and an `ormcache:schema-fallback` event.
   */
  schemaFallbacks: number
}

/** `prisma.$cache`: the cache behind an extended client. */
export interface PrismaCacheClient {
  /**
   * Makes every cached read carrying one of `tags` a miss, here and in every
   * instance sharing the Redis (model names are tags too: `{ tags: ['User'] }`).
   */
  invalidate(options: InvalidateOptions): Promise<void>
  /** Makes every cached read a miss: every entry under this client's `prefix`, here and in every instance. */
  invalidateAll(): Promise<void>
  stats(): PrismaCacheStats
  /**
   * A raw read, cached under the tags given: `$queryRaw` itself is never
   * cached, since which tables a query reads is not known. Only one SELECT
   * (or a WITH without writes) is accepted. It runs outside any transaction.
   * @example prisma.$cache.queryRaw<{ n: bigint }[]>(Prisma.sql`SELECT count(*) AS n FROM "User"`, { tags: ['User'] })
   */
  queryRaw<T = unknown>(query: Sql, options: RawQueryCacheOptions): Promise<T>
  /**
   * Runs `read` (one model read, or one `$cache.queryRaw`) and tells where its
   * result came from. Concurrent calls each get their own read's origin.
   * @example const { data, info } = await prisma.$cache.withInfo(() => prisma.user.findMany())
   * // info: { origin: 'l1' | 'l2' | 'stale' | 'database' | 'bypass', key?, ttl? }
   */
  withInfo<T>(read: () => PromiseLike<T>): Promise<WithCacheInfo<T>>
}

/**
 * `prisma.$accelerate`: Prisma Accelerate's invalidation calls, for code written against
 * Accelerate; the same as `$cache.invalidate` and `$cache.invalidateAll`.
 */
export type AccelerateInvalidation = Pick<PrismaCacheClient, 'invalidate' | 'invalidateAll'>

/**
 * A Prisma Client extension that caches reads and invalidates on writes:
 *
 * ```ts
 * const prisma = new PrismaClient({ adapter }).$extends(prismaCache({ redis: process.env.REDIS_URL }))
 * ```
 *
 * Options are validated here, so a typo fails where it was made. Apply it
 * last when stacking extensions: extensions applied after it run only on a
 * cache miss, and one that changes arguments per request would change results
 * the key does not describe.
 */
export function prismaCache(options: PrismaCacheOptions = {}) {
  const resolved = resolvePrismaOptions(options)
  registerPrismaCodec()
  return Prisma.defineExtension((client) => {
    const internals = readClientInternals(client)
    const parsed = readSchema(internals.inlineSchema, resolved.cache.prefix ?? DEFAULT_PREFIX)
    const schemaFallbacks = parsed === undefined ? 1 : 0
    const graph = new RelationGraph(internals.runtimeDataModel, parsed, internals.provider)
    checkModelNames(resolved.models, graph.modelNames)
    const cache = new CacheHandle(resolved.cache)
    const transactions = new TransactionTracker((tags) => cache.invalidate(tags))
    const info = new CacheInfoRecorder()
    const context = {
      graph,
      cache,
      transactions,
      info,
      models: resolved.models,
      explicit: resolved.queries === 'explicit',
      namespace: namespaceOf(
        internals.inlineSchema ?? JSON.stringify(internals.runtimeDataModel),
        internals.globalOmit,
      ),
      // Twice the client's transaction limits: a later per-call `timeout` can exceed them, rarely by that much.
      transactionHorizonMs: 2 * (internals.transactionMaxWaitMs + internals.transactionTimeoutMs),
    }

    const $cache: PrismaCacheClient = {
      invalidate: async (options) => {
        await cache.invalidate(invalidationTags(options, (tags) => expandModelNames(graph, tags, 'whole')))
      },
      invalidateAll: () => cache.invalidateAll(),
      stats: () => ({ ...cache.stats(), schemaFallbacks }),
      withInfo: (read) => info.withInfo(read),
      async queryRaw<T>(query: Sql, options: RawQueryCacheOptions): Promise<T> {
        const { tags, ttl, swr } = checkRawQueryOptions(options)
        const text = sqlText(query)
        if (text === undefined || analyzeSql(text).kind !== 'read') {
          throw new InvalidUsageError(
            '$cache.queryRaw caches one read statement only (a SELECT, or a WITH that writes nothing); run writes with $executeRaw',
          )
        }
        const load = () => Promise.resolve(internals.queryRaw.call(client, query) as PromiseLike<T>)
        // A model's name stands for its table's tag, which every write to the model invalidates.
        const sortedTags = expandModelNames(graph, tags, 'table')
        const seen = info.current()
        let key: string
        try {
          // The statement, its bound values and its tags (the engine keeps one tag list per key), hashed.
          const hash = hashArgs({ strings: query.strings, values: query.values, tags: sortedTags })
          key = `${context.namespace}:$queryRaw:${hash}`
        } catch (error) {
          if (error instanceof UnkeyableArgsError) {
            seen?.push(BYPASS)
            return load()
          }
          throw error
        }
        return cache.getOrLoad(key, sortedTags, load, {
          ...(ttl !== undefined && { ttl }),
          ...(swr !== undefined && { swr }),
          ...(seen !== undefined && { onServed: recordServed(seen, key) }),
        })
      },
    }
    // `$transaction` and `$disconnect` are wrapped at runtime but left out of the
    // extension's declared type, so the client keeps Prisma's own typings for them.
    const $accelerate: AccelerateInvalidation = { invalidate: $cache.invalidate, invalidateAll: $cache.invalidateAll }
    const clientMembers: { $cache: PrismaCacheClient; $accelerate: AccelerateInvalidation } = {
      $cache,
      $accelerate,
      $transaction(this: unknown, ...args: unknown[]) {
        return transactions.run(isTransactionClient(this), () => internals.transaction.apply(this, args))
      },
      async $disconnect(this: unknown) {
        try {
          await internals.disconnect.call(this)
        } finally {
          await cache.close()
        }
      },
    } as { $cache: PrismaCacheClient; $accelerate: AccelerateInvalidation }

    const extended = client.$extends({
      name: 'ormcache',
      client: clientMembers,
      query: {
        // Top level rather than `$allModels`: raw queries reach only this one.
        $allOperations(params) {
          // Prisma passes `__internalParams` at runtime without declaring it.
          return runOperation(context, params as OperationParams)
        },
      },
    })
    // The `cache` argument is declared by a second layer that exists only in the types: at run
    // time Prisma's own model methods take it, since the query extension above removes it
    // before Prisma validates the arguments. So reads keep Prisma's own fluent API, batching
    // and transactions, and extensions stacked later wrap them as they would without ormcache.
    const declareReads = (base: typeof extended) =>
      base.$extends({ name: 'ormcache-types', model: { $allModels: null as unknown as CachedReadMethods } })
    // Fresh in-process hits are answered before Prisma's pipeline, unless extensions applied
    // before this one could change what a read asks for.
    const returned = internals.unextended ? withFastReads(extended, client, context) : extended
    return returned as unknown as ReturnType<typeof declareReads>
  })
}

function namespaceOf(schema: string, globalOmit: unknown): string {
  return createHash('sha256')
    .update(TAG_FORMAT)
    .update(schema)
    .update(JSON.stringify(globalOmit ?? null))
    .digest('base64url')
    .slice(0, 10)
}
