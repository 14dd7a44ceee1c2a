import { UnkeyableArgsError } from '../../src/errors.js'
import { hashArgs } from '../../src/keys.js'
import type { CacheHandle } from './cache-handle.js'
import { BYPASS, type CacheInfoRecorder, recordServed } from './cache-info.js'
import { isReadOperation } from './operations.js'
import { type ModelSetting, type QueryCacheSetting, takeCacheOption } from './options.js'
import { rawWriteTags } from './raw.js'
import { readTags } from './read-tags.js'
import type { RelationGraph } from './relations.js'
import type { PrismaTransaction, TransactionTracker } from './transactions.js'
import { writeTags } from './write-tags.js'

/** What Prisma passes a top-level `query.$allOperations` callback. */
export interface OperationParams {
  readonly model?: string
  readonly operation: string
  readonly args: unknown
  readonly query: (args: unknown) => PromiseLike<unknown>
  /** Undocumented; see `PrismaTransaction`. `dataPath` is set by the fluent API (`findUnique(…).posts()`). */
  readonly __internalParams?: { readonly transaction?: unknown; readonly dataPath?: unknown }
}

export interface AdapterContext {
  readonly graph: RelationGraph
  readonly cache: CacheHandle
  readonly transactions: TransactionTracker
  readonly models: ReadonlyMap<string, ModelSetting>
  /** `queries: 'explicit'`: only reads with a `cache` option are cached. */
  readonly explicit: boolean
  /** Where reads report their origin, inside `$cache.withInfo`. */
  readonly info: CacheInfoRecorder
  /** Part of every key: a hash of the schema, so a deploy that changes a model never reads the old shape. */
  readonly namespace: string
  /** After this long, any transaction open now has ended (Prisma's transaction timeouts). */
  readonly transactionHorizonMs: number
}

/** One Prisma operation through the cache: a cached read, a write that invalidates, or a pass-through. */
export function runOperation(context: AdapterContext, params: OperationParams): Promise<unknown> {
  const { model, operation } = params
  if (model === undefined) {
    const tags = rawWriteTags(context.graph, operation, params.args)
    if (tags === undefined) return Promise.resolve(params.query(params.args))
    return runWrite(context, params, () => tags)
  }
  if (isReadOperation(operation)) return runRead(context, model, params)
  // Writes, and operations this adapter does not know (which count as writes of the whole model).
  return runWrite(context, params, (result) => writeTags(context.graph, model, operation, params.args, result))
}

async function runRead(context: AdapterContext, model: string, params: OperationParams): Promise<unknown> {
  const seen = context.info.current()
  // Inside a transaction a read must see the transaction's own writes, which no cache holds.
  const plan =
    params.__internalParams?.transaction === undefined
      ? planRead(context, model, params.operation, params.args, params.__internalParams?.dataPath)
      : { args: takeCacheOption(params.args).args, cached: undefined }
  if (plan.cached === undefined) {
    seen?.push(BYPASS)
    return params.query(plan.args)
  }
  const { key, tags, options } = plan.cached
  return context.cache.getOrLoad(key, tags(), () => Promise.resolve(params.query(plan.args)), {
    ...options,
    ...(seen !== undefined && { onServed: recordServed(seen, key) }),
  })
}

/** How a read outside a transaction is served: its arguments without `cache`, and unless it bypasses, its entry. */
export interface ReadPlan {
  readonly args: unknown
  readonly cached:
    | {
        readonly key: string
        /** Computed on demand: a hit from memory needs only the key. */
        readonly tags: () => string[]
        readonly options: { ttlMs?: number; swrMs?: number }
      }
    | undefined
}

export function planRead(
  context: AdapterContext,
  model: string,
  operation: string,
  rawArgs: unknown,
  dataPath?: unknown,
): ReadPlan {
  const { args, setting } = takeCacheOption(rawArgs)
  if (bypassesCache(context, model, setting)) return { args, cached: undefined }
  const key = readKey(context, model, operation, args, setting, dataPath)
  // Arguments no key can describe are read from the database, not rejected.
  if (key === undefined) return { args, cached: undefined }
  // Never `false` here: a model set to false bypassed above.
  const modelSetting = context.models.get(model) || undefined
  const tags = () => {
    const derived = readTags(context.graph, model, operation, args)
    return setting !== undefined && setting.tags.length > 0
      ? [...new Set([...derived, ...setting.tags])].sort()
      : derived
  }
  const ttlMs = setting?.ttlMs ?? modelSetting?.ttlMs
  const swrMs = setting?.swrMs ?? modelSetting?.swrMs
  return {
    args,
    cached: { key, tags, options: { ...(ttlMs !== undefined && { ttlMs }), ...(swrMs !== undefined && { swrMs }) } },
  }
}

/** True when the read goes to the database without consulting the cache (outside any transaction). */
function bypassesCache(context: AdapterContext, model: string, setting: QueryCacheSetting | undefined): boolean {
  const modelInfo = context.graph.model(model)
  return (
    (setting === undefined ? context.explicit : setting.bypass) ||
    context.models.get(model) === false ||
    // Views: which tables they read is not in the schema, so no write could invalidate them.
    modelInfo === undefined ||
    modelInfo.isView
  )
}

/** The cache key of a read, or undefined for arguments no key can describe. */
function readKey(
  context: AdapterContext,
  model: string,
  operation: string,
  args: unknown,
  setting: QueryCacheSetting | undefined,
  dataPath?: unknown,
): string | undefined {
  try {
    const customTags = setting === undefined || setting.tags.length === 0 ? [] : [...new Set(setting.tags)].sort()
    // The engine keeps one tag list per key, so a query's own tags are part of its key: the same
    // query under other tags is another entry, which `$cache.invalidate` of those tags leaves alone.
    const hashed =
      (Array.isArray(dataPath) && dataPath.length > 0) || customTags.length > 0
        ? { args, dataPath: Array.isArray(dataPath) ? dataPath : [], tags: customTags }
        : args
    return `${context.namespace}:${model}:${operation}:${hashArgs(hashed)}`
  } catch (error) {
    if (error instanceof UnkeyableArgsError) return undefined
    throw error
  }
}

/**
 * Runs the write, then invalidates before returning, so the caller's next read
 * sees it. A failed write invalidates too: whether a failure (a timeout, a lost
 * connection) left a change behind is unknown, and invalidating is always safe.
 */
async function runWrite(
  context: AdapterContext,
  params: OperationParams,
  tagsFor: (result: unknown) => string[],
): Promise<unknown> {
  const transaction = params.__internalParams?.transaction
  let result: unknown
  try {
    result = await params.query(params.args)
  } catch (error) {
    await invalidate(context, transaction, tagsFor(undefined)).catch(() => {})
    throw error
  }
  await invalidate(context, transaction, tagsFor(result))
  return result
}

async function invalidate(context: AdapterContext, transaction: unknown, tags: string[]): Promise<void> {
  if (transaction === undefined) return context.cache.invalidate(tags)
  if (isPrismaTransaction(transaction) && context.transactions.record(transaction, tags)) return
  // A transaction no wrapped `$transaction` call owns: its commit cannot be seen. Invalidating
  // now is not enough (a read may re-cache the pre-commit rows before the commit), so the
  // tags are invalidated again once the transaction has certainly ended.
  await context.cache.invalidate(tags)
  context.cache.invalidateLater(tags, context.transactionHorizonMs)
}

function isPrismaTransaction(value: unknown): value is PrismaTransaction {
  if (value === null || typeof value !== 'object') return false
  const { kind, id } = value as { kind?: unknown; id?: unknown }
  return typeof kind === 'string' && (typeof id === 'string' || typeof id === 'number')
}
