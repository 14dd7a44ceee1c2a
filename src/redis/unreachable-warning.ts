import type { RedisClient } from './connection.js'

export const REDIS_UNREACHABLE_WARNING = 'ORMCACHE_REDIS_UNREACHABLE'

/**
 * A wrong host, port or password leaves every read going to the database, and nothing would say
 * why: say it once, with Redis's own reason, through Node's warnings (which users can silence by
 * code), until the connection is first made.
 */
export function warnWhileUnreachable(client: RedisClient): void {
  const warn = (error: Error) => {
    client.off('error', warn)
    const { host, port, path } = (client.options ?? {}) as { host?: string; port?: number; path?: string }
    const where = 'isCluster' in client && client.isCluster ? 'its cluster nodes' : (path ?? `${host}:${port}`)
    process.emitWarning(
      `ormcache: cannot reach Redis at ${where} (${error.message}): every read goes to the database until it can; ` +
        '`stats().redis` says "down" meanwhile.',
      { type: 'OrmCacheWarning', code: REDIS_UNREACHABLE_WARNING },
    )
  }
  client.on('error', warn)
  client.once('ready', () => client.off('error', warn))
}
