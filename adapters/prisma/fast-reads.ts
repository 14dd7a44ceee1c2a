import { type AdapterContext, bypassesCache, readKey } from './operation.js'
import { isReadOperation } from './operations.js'
import { takeCacheOption } from './options.js'

/**
 * The client `prismaCache` returns, answering fresh in-process hits before
 * Prisma's query pipeline runs: even a query extension that answers from a
 * `Map` pays tens of µs for that pipeline, about the cost of the query it
 * saves on SQLite. Everything else goes to the extended client untouched:
 * misses, stale entries, the fluent API and batch `$transaction` run Prisma's
 * own call, which the query extension serves with the whole caching logic.
 *
 * Only this client is wrapped: a client derived from it (`$extends` applied
 * later, a transaction's) is Prisma's own, so extensions stacked after ours
 * keep their result fields and query hooks, and transactions read their own
 * writes. The caller skips the wrapper when extensions were applied before
 * ours, since their query hooks may change what a read asks for.
 */
export function withFastReads<Client extends object>(client: Client, context: AdapterContext): Client {
  // A client names each model's delegate after the model, first letter in lower case.
  const models = new Map(
    context.graph.modelNames.map((model) => [model.charAt(0).toLowerCase() + model.slice(1), model]),
  )
  const delegates = new Map<PropertyKey, object>()
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      const model = typeof property === 'string' ? models.get(property) : undefined
      if (model !== undefined && typeof value === 'object' && value !== null) {
        let delegate = delegates.get(property)
        if (delegate === undefined) {
          delegate = fastDelegate(value as Delegate, model, context)
          delegates.set(property, delegate)
        }
        return delegate
      }
      if (typeof value !== 'function') return value
      // Prisma's methods rely on `this` being the client itself, not this proxy.
      let method = bound.get(property)
      if (method === undefined) {
        method = value.bind(target)
        bound.set(property, method)
      }
      return method
    },
  })
}

type Delegate = Record<PropertyKey, unknown>

/** Prisma's model methods return lazy promises that `$transaction([...])` can also run in a batch. */
interface PrismaPromiseLike extends PromiseLike<unknown> {
  requestTransaction?(transaction: unknown): PromiseLike<unknown>
  readonly [Symbol.toStringTag]?: string
}

function fastDelegate(delegate: Delegate, model: string, context: AdapterContext): object {
  const methods = new Map<PropertyKey, unknown>()
  return new Proxy(delegate, {
    get(target, property) {
      const value = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      let method = methods.get(property)
      if (method === undefined) {
        const original = (value as (args?: unknown) => PrismaPromiseLike).bind(target)
        method =
          typeof property === 'string' && isReadOperation(property)
            ? (args?: unknown) =>
                lazyRead(
                  () => peek(context, model, property, args),
                  () => original(args),
                  FLUENT.has(property),
                )
            : original
        methods.set(property, method)
      }
      return method
    },
  })
}

function peek(context: AdapterContext, model: string, operation: string, rawArgs: unknown) {
  const { args, setting } = takeCacheOption(rawArgs)
  if (bypassesCache(context, model, setting)) return undefined
  const key = readKey(context, model, operation, args, setting)
  if (key === undefined) return undefined
  const hit = context.cache.peek(key)
  if (hit !== undefined) context.info.current()?.push({ origin: 'l1', key, ttl: hit.expiresAt - Date.now() })
  return hit
}

/**
 * A stand-in for Prisma's lazy promise: nothing happens until it is awaited,
 * as with Prisma's (a read made before a write and awaited after it sees the
 * write); then it answers from memory or runs Prisma's own call.
 */
function lazyRead(
  fromMemory: () => { readonly value: unknown } | undefined,
  original: () => PrismaPromiseLike,
  fluent: boolean,
): PrismaPromiseLike {
  let result: Promise<unknown> | undefined
  let prismaCall: PrismaPromiseLike | undefined
  const call = () => {
    prismaCall ??= original()
    return prismaCall
  }
  const run = () => {
    if (result === undefined) {
      // A failure here (arguments that cannot be keyed are not one) is Prisma's call's to report.
      let hit: { readonly value: unknown } | undefined
      try {
        hit = fromMemory()
      } catch {
        hit = undefined
      }
      result = hit === undefined ? Promise.resolve(call()) : Promise.resolve(hit.value)
    }
    return result
  }
  const promise: PrismaPromiseLike & { catch: Promise<unknown>['catch']; finally: Promise<unknown>['finally'] } = {
    // biome-ignore lint/suspicious/noThenProperty: this object is a promise, as Prisma's are
    then: (onFulfilled, onRejected) => run().then(onFulfilled, onRejected),
    catch: (onRejected) => run().catch(onRejected),
    finally: (onFinally) => run().finally(onFinally),
    // In a batch `$transaction([...])` the read runs in the transaction: Prisma's own call does.
    requestTransaction(transaction: unknown) {
      const prisma = call()
      return prisma.requestTransaction === undefined ? prisma : prisma.requestTransaction(transaction)
    },
    [Symbol.toStringTag]: 'PrismaPromise',
  }
  if (!fluent) return promise
  // `findUnique(…).posts()`: relation methods are Prisma's, on its own call.
  return new Proxy(promise, {
    get(target, property, receiver) {
      if (property in target) return Reflect.get(target, property, receiver)
      const prisma = call() as unknown as Record<PropertyKey, unknown>
      const value = prisma[property]
      return typeof value === 'function' ? value.bind(prisma) : value
    },
  })
}

const FLUENT = new Set<string>(['findUnique', 'findUniqueOrThrow', 'findFirst', 'findFirstOrThrow'])
