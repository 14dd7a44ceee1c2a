import { type AdapterContext, planRead } from './operation.js'
import { isReadOperation } from './operations.js'

/**
 * The client `prismaCache` returns, serving cached reads before Prisma's
 * query pipeline runs: even a query extension that answers from a `Map` pays
 * tens of µs for that pipeline, about the cost of the query it saves on
 * SQLite. A hit from memory or Redis never enters the pipeline; a miss runs
 * the call on the client before the extension (`base`), which skips a pass
 * through the query extension (about 30 µs of a PostgreSQL miss, measured).
 * The fluent API, batch `$transaction` and reads inside `$cache.withInfo` run
 * Prisma's own call as it is, which the query extension serves with the same plan.
 *
 * Only this client is wrapped: a client derived from it (`$extends` applied
 * later, a transaction's) is Prisma's own, so extensions stacked after ours
 * keep their result fields and query hooks, and transactions read their own
 * writes. The caller skips the wrapper when extensions were applied before
 * ours, since their query hooks may change what a read asks for.
 */
export function withFastReads<Client extends object>(client: Client, base: object, context: AdapterContext): Client {
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
          delegate = fastDelegate(value as Delegate, Reflect.get(base, property) as Delegate, model, context)
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

function fastDelegate(delegate: Delegate, baseDelegate: Delegate, model: string, context: AdapterContext): object {
  const methods = new Map<PropertyKey, unknown>()
  return new Proxy(delegate, {
    get(target, property) {
      const value = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      let method = methods.get(property)
      if (method === undefined) {
        const original = (value as (args?: unknown) => PrismaPromiseLike).bind(target)
        const load = Reflect.get(baseDelegate, property) as (args: unknown) => PrismaPromiseLike
        method =
          typeof property === 'string' && isReadOperation(property)
            ? (args?: unknown) =>
                lazyRead(
                  () => serve(context, model, property, args, (uncachedArgs) => load.call(baseDelegate, uncachedArgs)),
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

/** The read through the cache, or undefined when Prisma's own call must make it. */
function serve(
  context: AdapterContext,
  model: string,
  operation: string,
  rawArgs: unknown,
  load: (args: unknown) => PrismaPromiseLike,
): Promise<unknown> | undefined {
  // `withInfo` records the origin from the query extension; arguments that are not an object
  // are Prisma's to refuse (spread into the loader's arguments, they would vanish).
  if (context.info.current() !== undefined) return undefined
  if (rawArgs !== undefined && (typeof rawArgs !== 'object' || rawArgs === null || Array.isArray(rawArgs)))
    return undefined
  // Prisma hands query extensions `{}` for a call without arguments: the same key either way.
  const { args, cached } = planRead(context, model, operation, rawArgs ?? {})
  if (cached === undefined) return undefined
  const hit = context.cache.peek(cached.key)
  if (hit !== undefined) return Promise.resolve(hit.value)
  return context.cache.getOrLoad(cached.key, cached.tags(), () => Promise.resolve(load(args)), cached.options)
}

/**
 * A stand-in for Prisma's lazy promise: nothing happens until it is awaited,
 * as with Prisma's (a read made before a write and awaited after it sees the
 * write); then it answers from memory or runs Prisma's own call.
 */
function lazyRead(
  throughCache: () => Promise<unknown> | undefined,
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
      // Bad arguments (a malformed `cache` option) are Prisma's call's to report, as without the cache.
      let cached: Promise<unknown> | undefined
      try {
        cached = throughCache()
      } catch {
        cached = undefined
      }
      result = cached ?? Promise.resolve(call())
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
