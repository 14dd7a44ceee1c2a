import { InvalidUsageError, UnsupportedOrmError } from '../../src/errors.js'
import type { RuntimeDataModel } from './relations.js'

/**
 * Everything this adapter reads from a Prisma client that Prisma does not
 * document for extensions, in one place. A test pins each of these on the
 * Prisma version we support, so an upgrade that moves one fails loudly.
 */
export interface ClientInternals {
  /** Models, their fields and relation names: the same data Prisma's own runtime walks. */
  readonly runtimeDataModel: RuntimeDataModel
  /** The schema text the generated client embeds; the only runtime source of keys and referential actions in Prisma 7. */
  readonly inlineSchema: string | undefined
  readonly provider: string
  /** The client's `omit` option changes result shapes, so it is part of the key namespace. */
  readonly globalOmit: unknown
  /** The client's interactive transaction limits (`transactionOptions`), Prisma's defaults otherwise. */
  readonly transactionMaxWaitMs: number
  readonly transactionTimeoutMs: number
  /** The `$transaction` and `$disconnect` the extension wraps (those of the client it extends). */
  readonly transaction: (this: unknown, ...args: unknown[]) => Promise<unknown>
  readonly disconnect: (this: unknown) => Promise<void>
  /** The client's own `$queryRaw`, for `$cache.queryRaw`. */
  readonly queryRaw: (this: unknown, query: unknown) => PromiseLike<unknown>
  /** False when extensions were applied before ours, or when that cannot be told. */
  readonly unextended: boolean
}

/** The private fields of a Prisma 7 client, as seen through the client passed to `defineExtension`. */
interface PrismaClientShape {
  _runtimeDataModel?: unknown
  _engineConfig?: {
    inlineSchema?: unknown
    activeProvider?: unknown
    transactionOptions?: { maxWait?: unknown; timeout?: unknown }
  }
  _activeProvider?: unknown
  _globalOmit?: unknown
  $transaction?: unknown
  $disconnect?: unknown
  $queryRaw?: unknown
  _extensions?: { isEmpty?: () => unknown }
}

// Prisma's defaults for interactive transactions.
const DEFAULT_TRANSACTION_MAX_WAIT_MS = 2_000
const DEFAULT_TRANSACTION_TIMEOUT_MS = 5_000

export function readClientInternals(client: object): ClientInternals {
  // A narrow cast: these are private members of Prisma's client class.
  const shape = client as PrismaClientShape
  const runtimeDataModel = shape._runtimeDataModel as RuntimeDataModel | undefined
  if (runtimeDataModel === undefined || typeof runtimeDataModel.models !== 'object') {
    throw new UnsupportedOrmError(
      'this Prisma Client does not expose its data model; ormcache/prisma needs Prisma 7 or later (with a driver adapter)',
    )
  }
  if (
    typeof shape.$transaction !== 'function' ||
    typeof shape.$disconnect !== 'function' ||
    typeof shape.$queryRaw !== 'function'
  ) {
    throw new InvalidUsageError(
      'prismaCache() must extend a PrismaClient (`new PrismaClient(…).$extends(prismaCache(…))`), not a transaction client',
    )
  }
  const inlineSchema = shape._engineConfig?.inlineSchema
  const provider = shape._activeProvider ?? shape._engineConfig?.activeProvider
  const transactionOptions = shape._engineConfig?.transactionOptions
  return {
    runtimeDataModel,
    inlineSchema: typeof inlineSchema === 'string' ? inlineSchema : undefined,
    provider: typeof provider === 'string' ? provider : 'unknown',
    globalOmit: shape._globalOmit,
    transactionMaxWaitMs: positiveOr(transactionOptions?.maxWait, DEFAULT_TRANSACTION_MAX_WAIT_MS),
    transactionTimeoutMs: positiveOr(transactionOptions?.timeout, DEFAULT_TRANSACTION_TIMEOUT_MS),
    transaction: shape.$transaction as ClientInternals['transaction'],
    disconnect: shape.$disconnect as ClientInternals['disconnect'],
    queryRaw: shape.$queryRaw as ClientInternals['queryRaw'],
    unextended: typeof shape._extensions?.isEmpty === 'function' && shape._extensions.isEmpty() === true,
  }
}

/**
 * Interactive transaction clients lack `$extends` (Prisma removes `$connect`,
 * `$disconnect`, `$on`, `$use` and `$extends` from them): a `$transaction`
 * called on one is nested inside the transaction that client belongs to.
 */
export function isTransactionClient(client: unknown): boolean {
  return typeof (client as { $extends?: unknown } | null)?.$extends !== 'function'
}

function positiveOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback
}
