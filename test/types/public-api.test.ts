// Type tests of the public surface: what `ormcache`, `ormcache/prisma` and
// `ormcache/typeorm` export, in one vocabulary, and nothing internal. Checked by
// `tsc -p tsconfig.json --noEmit`; the functions below are never called.
import { describe, expectTypeOf, test } from 'vitest'
import type * as PrismaEntry from '../../adapters/prisma/index.js'
import type {
  CacheOrigin,
  PrismaCacheClient,
  CachedQueries as PrismaCachedQueries,
  PrismaCacheMode,
  PrismaCacheOptions,
  PrismaCacheStats,
} from '../../adapters/prisma/index.js'
import type * as TypeormEntry from '../../adapters/typeorm/index.js'
import type {
  CachedQueries as TypeormCachedQueries,
  TypeormCacheHandle,
  TypeormCacheOptions,
} from '../../adapters/typeorm/index.js'
import type * as Root from '../../src/index.js'
import type {
  Cache,
  CacheOptions,
  CacheStats,
  Duration,
  GetOrLoadOptions,
  InvalidateOptions,
  L1Options,
  LockOptions,
  OrmCacheErrorCode,
} from '../../src/index.js'

function keepsInternalHooksOffTheEngine(cache: Cache) {
  expectTypeOf<Cache>().not.toHaveProperty('peek')
  expectTypeOf<GetOrLoadOptions>().not.toHaveProperty('onServed')
  expectTypeOf<keyof GetOrLoadOptions>().toEqualTypeOf<'ttl' | 'swr'>()
  expectTypeOf<keyof Cache>().toEqualTypeOf<'getOrLoad' | 'invalidate' | 'invalidateAll' | 'stats' | 'close'>()
  // @ts-expect-error an adapters' hook, not public
  cache.peek('k')
  // @ts-expect-error an adapters' hook, not public
  cache.getOrLoad('k', [], () => 1, { onServed: () => {} })
  // The engine's internal factory is not exported from the root entry.
  expectTypeOf<typeof Root>().not.toHaveProperty('createAdapterCache')
}

function namesEveryOption(lock: LockOptions, l1: L1Options, duration: Duration) {
  const options: CacheOptions = {
    redis: 'redis://127.0.0.1:6379',
    prefix: 'app',
    ttl: '1m',
    swr: '30s',
    earlyRefresh: true,
    lock: { ttl: '5s', wait: '2s' },
    l1: { maxBytes: 1_024, ttl: '10s' },
    maxEntryBytes: 1_024,
    timeout: '250ms',
    tagTtl: '1d',
  }
  expectTypeOf(lock).toEqualTypeOf<{ ttl?: Duration; wait?: Duration }>()
  expectTypeOf(options.lock).toEqualTypeOf<false | LockOptions | undefined>()
  expectTypeOf(options.l1).toEqualTypeOf<false | L1Options | undefined>()
  expectTypeOf(l1.ttl).toEqualTypeOf<Duration | undefined>()
  expectTypeOf(duration).toEqualTypeOf<`${number}${'ms' | 's' | 'm' | 'h' | 'd'}`>()
  // A bare number is no duration: 60 ms or 60 s would be a guess.
  expectTypeOf<60>().not.toMatchTypeOf<Duration>()
  expectTypeOf<PrismaCacheOptions>().toMatchTypeOf<CacheOptions>()
  expectTypeOf<TypeormCacheOptions>().toMatchTypeOf<CacheOptions>()
}

function speaksOneVocabulary(
  cache: Cache,
  prisma: PrismaCacheClient,
  typeorm: TypeormCacheHandle,
  prismaOptions: PrismaCacheOptions,
  typeormOptions: TypeormCacheOptions,
) {
  // `invalidate({ tags })` and `invalidateAll()` everywhere.
  const target: InvalidateOptions = { tags: ['User'] }
  expectTypeOf(cache.invalidate(target)).toEqualTypeOf<Promise<void>>()
  expectTypeOf(prisma.invalidate).parameter(0).toEqualTypeOf<InvalidateOptions>()
  expectTypeOf(typeorm.invalidate).parameter(0).toEqualTypeOf<InvalidateOptions>()
  expectTypeOf(cache.invalidateAll).toEqualTypeOf<() => Promise<void>>()
  expectTypeOf(prisma.invalidateAll).toEqualTypeOf<() => Promise<void>>()
  expectTypeOf(typeorm.invalidateAll).toEqualTypeOf<() => Promise<void>>()
  // The engine's array form still compiles (deprecated); the adapters never took it.
  cache.invalidate(['User'])
  // @ts-expect-error tags in an object
  prisma.invalidate(['User'])
  // @ts-expect-error tags in an object
  typeorm.invalidate(['User'])

  // One option name for all-or-explicit, one type for it.
  expectTypeOf<PrismaCachedQueries>().toEqualTypeOf<'all' | 'explicit'>()
  expectTypeOf<TypeormCachedQueries>().toEqualTypeOf<PrismaCachedQueries>()
  expectTypeOf(prismaOptions.queries).toEqualTypeOf<PrismaCachedQueries | undefined>()
  expectTypeOf(typeormOptions.queries).toEqualTypeOf<PrismaCachedQueries | undefined>()
  // The old Prisma names, kept as deprecated aliases.
  expectTypeOf(prismaOptions.mode).toEqualTypeOf<PrismaCachedQueries | undefined>()
  expectTypeOf<PrismaCacheMode>().toEqualTypeOf<PrismaCachedQueries>()

  // Stats: the engine's counters, plus the Prisma adapter's one.
  expectTypeOf(typeorm.stats()).toEqualTypeOf<CacheStats>()
  expectTypeOf(prisma.stats()).toEqualTypeOf<PrismaCacheStats>()
  expectTypeOf(prisma.stats()).toMatchTypeOf<CacheStats>()
  expectTypeOf(prisma.stats().schemaFallbacks).toEqualTypeOf<number>()
}

function hasOneOrigin() {
  expectTypeOf<CacheOrigin>().toEqualTypeOf<'l1' | 'l2' | 'stale' | 'database' | 'bypass'>()
  expectTypeOf<Awaited<ReturnType<PrismaCacheClient['withInfo']>>['info']['origin']>().toEqualTypeOf<CacheOrigin>()
}

function hasStableErrorCodes() {
  expectTypeOf<OrmCacheErrorCode>().toEqualTypeOf<
    | 'E_INVALID_OPTION'
    | 'E_INVALID_USAGE'
    | 'E_UNKEYABLE_ARGS'
    | 'E_CACHE_CLOSED'
    | 'E_REDIS_UNAVAILABLE'
    | 'E_SCHEMA_PARSE'
    | 'E_UNSUPPORTED_ORM'
    | 'E_CHANGE_STREAM'
  >()
  // The adapters' entries export their factories and types; errors come from the root entry.
  expectTypeOf<typeof PrismaEntry>().toHaveProperty('prismaCache')
  expectTypeOf<typeof TypeormEntry>().toHaveProperty('withCache')
  expectTypeOf<typeof TypeormEntry>().toHaveProperty('cacheOf')
}

describe('the public API', () => {
  test('is checked by tsc (see the functions of this file)', () => {
    expectTypeOf(keepsInternalHooksOffTheEngine).toBeFunction()
    expectTypeOf(namesEveryOption).toBeFunction()
    expectTypeOf(speaksOneVocabulary).toBeFunction()
    expectTypeOf(hasOneOrigin).toBeFunction()
    expectTypeOf(hasStableErrorCodes).toBeFunction()
  })
})
