export const MEMORY_ONLY_WARNING = 'ORMCACHE_MEMORY_ONLY'

let warned = false

/**
 * `redis: process.env.REDIS_URL` with the variable unset gives `redis: undefined`: the cache then
 * runs in process memory only, and two instances of the app serve each other's replaced rows until
 * their TTL. Omitting `redis` says "memory only" on purpose; passing it undefined is said once.
 */
export function warnMemoryOnly(): void {
  if (warned) return
  warned = true
  process.emitWarning(
    "ormcache: option `redis` is undefined (an unset environment variable?): caching in this process's memory only, " +
      'so other instances of the app will not see its writes, nor it theirs. Omit `redis` to cache in memory on purpose.',
    { type: 'OrmCacheWarning', code: MEMORY_ONLY_WARNING },
  )
}
