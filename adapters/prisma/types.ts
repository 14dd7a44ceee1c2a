import type { Args, Exact, GetResult, OperationPayload, Path, PrismaPromise } from '@prisma/client/runtime/client'
import type { AccelerateCacheStrategy, QueryCacheOption } from './options.js'

// The typed per-query `cache` option. Prisma's generated argument types are
// closed (no extension can add a key to them), so the extension's type
// redeclares each cached read on `$allModels` with `Args<T, Op> & CacheArg` as
// its argument type — the way Prisma Accelerate types its `cacheStrategy`.
// Only the type: at run time the reads stay Prisma's own (see index.ts). The
// result types below mirror Prisma's for extended clients
// (`DynamicModelExtensionFnResult`), fluent API included, built from the
// model's payload and select types since a `$allModels` method sees only its
// own model (`this: T`). One known gap: a `$allModels` method cannot see the
// client's global `omit` option, so with one the result types still list the
// omitted fields (Prisma's own `Prisma.Result` has the same gap).

/** The `cache` argument every cached read accepts, or Prisma Accelerate's `cacheStrategy` in its place. */
export interface CacheArg {
  /** `false` reads from the database and stores nothing; an object tunes this query's entry. */
  readonly cache?: QueryCacheOption
  /** Accelerate's option as written for Accelerate (`ttl` and `swr` in seconds): this read is cached. */
  readonly cacheStrategy?: AccelerateCacheStrategy
}

/** A model's types as Prisma attaches them to the model object of an extended client. */
type ModelTypes<T> = T extends { [K: symbol]: { types: infer Types } } ? Types : never
type PayloadOf<T> = ModelTypes<T> extends { payload: infer P extends OperationPayload } ? P : never
type SelectOf<T, Op extends string> =
  ModelTypes<T> extends { operations: { [K in Op]: { args: infer A } } } ? Path<A, ['select']> : never

/** The payload a relation field leads to (`Post[]` and `Profile | null` are both the related model). */
type Related<Field> = Field extends readonly (infer Item)[] ? Item : NonNullable<Field>

/**
 * `findUnique(…).posts().author()`: each relation of the model, taking that
 * relation's select arguments and returning what Prisma's fluent API returns.
 * `Select` is the select type of the current model in the root operation,
 * `Null` the nullability carried along the path.
 */
export type CachedFluentApi<P extends OperationPayload, Select, Op extends FluentRead, Null> = {
  [K in keyof P['objects']]: <A>(
    args?: Exact<A, Path<Select, [K]>>,
  ) => PrismaPromise<Path<GetResult<P, { select: { [F in K]: A } }, Op>, [K]> | Null> &
    CachedFluentApi<
      Related<P['objects'][K]> & OperationPayload,
      Path<Select, [K, 'select']>,
      Op,
      Null | (null extends P['objects'][K] ? null : never)
    >
}

/** The cached reads whose result has Prisma's fluent API. */
export type FluentRead = 'findUnique' | 'findUniqueOrThrow' | 'findFirst' | 'findFirstOrThrow'
type NullOf<Op extends FluentRead> = Op extends 'findUnique' | 'findFirst' ? null : never

type FluentResult<T, A, Op extends FluentRead> = PrismaPromise<GetResult<PayloadOf<T>, A, Op>> &
  CachedFluentApi<PayloadOf<T>, SelectOf<T, Op>, Op, NullOf<Op>>

/** The typed signatures of the cached reads, as seen on every model of an extended client. */
// A type alias, not an interface: Prisma's `model` argument needs an implicit index signature.
export type CachedReadMethods = {
  findUnique<T, A>(this: T, args: Exact<A, Args<T, 'findUnique'> & CacheArg>): FluentResult<T, A, 'findUnique'>
  findUniqueOrThrow<T, A>(
    this: T,
    args: Exact<A, Args<T, 'findUniqueOrThrow'> & CacheArg>,
  ): FluentResult<T, A, 'findUniqueOrThrow'>
  findFirst<T, A>(this: T, args?: Exact<A, Args<T, 'findFirst'> & CacheArg>): FluentResult<T, A, 'findFirst'>
  findFirstOrThrow<T, A>(
    this: T,
    args?: Exact<A, Args<T, 'findFirstOrThrow'> & CacheArg>,
  ): FluentResult<T, A, 'findFirstOrThrow'>
  findMany<T, A>(
    this: T,
    args?: Exact<A, Args<T, 'findMany'> & CacheArg>,
  ): PrismaPromise<GetResult<PayloadOf<T>, A, 'findMany'>>
  count<T, A>(this: T, args?: Exact<A, Args<T, 'count'> & CacheArg>): PrismaPromise<GetResult<PayloadOf<T>, A, 'count'>>
  aggregate<T, A>(
    this: T,
    args: Exact<A, Args<T, 'aggregate'> & CacheArg>,
  ): PrismaPromise<GetResult<PayloadOf<T>, A, 'aggregate'>>
  groupBy<T, A>(
    this: T,
    args: Exact<A, Args<T, 'groupBy'> & CacheArg>,
  ): PrismaPromise<GetResult<PayloadOf<T>, A, 'groupBy'>>
}
