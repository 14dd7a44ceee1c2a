export { type Cache, createCache, type GetOrLoadOptions, type InvalidateOptions } from './cache.js'
export type { ChangeStreamStats } from './changes/change-feed.js'
export type { ChangeStreamOptions } from './changes/options.js'
export type { Duration } from './duration.js'
export {
  CacheClosedError,
  ChangeStreamError,
  InvalidOptionError,
  InvalidUsageError,
  OrmCacheError,
  type OrmCacheErrorCode,
  RedisUnavailableError,
  SchemaParseError,
  UnkeyableArgsError,
  UnsupportedOrmError,
} from './errors.js'
export { hashArgs } from './keys.js'
export type { CacheOptions, L1Options, LockOptions } from './options.js'
export {
  consistencyToken,
  type ReadYourWritesOptions,
  readYourWrites,
  withReadYourWrites,
} from './read-your-writes.js'
export type { CacheStats } from './stats.js'
