import { type Cluster, Redis, type RedisOptions } from 'ioredis'
import type { CacheOptions } from '../options.js'
import { releaseProcessHold } from './process-hold.js'
import { SCRIPTS } from './scripts.js'

export type RedisClient = Redis | Cluster

type ScriptArg = string | number | Buffer
type ScriptCall<R> = (numKeys: number, ...keysAndArgs: ScriptArg[]) => Promise<R>

/** The commands `defineCommand` adds for our scripts, typed from the SCRIPTS table. */
export type ScriptCommands = {
  readonly [Name in keyof typeof SCRIPTS]: ScriptCall<(typeof SCRIPTS)[Name]['reply']>
}

export interface RedisConnection {
  readonly client: RedisClient
  readonly commands: ScriptCommands
  readonly isCluster: boolean
  /** True when we created the client, and so must close it. */
  readonly owned: boolean
}

/**
 * Our own clients fail fast instead of queueing: with the offline queue a dead
 * Redis would hold every request until reconnect, and queued writes would run
 * long after they stopped being true. Callers time out and carry on without Redis.
 */
const OWNED_CLIENT_DEFAULTS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  // Auto-pipelining holds every command until setImmediate and builds a pipeline for it: about
  // half of an L2 hit's latency here (124 → 65 µs), for batching that concurrent callers' commands
  // get anyway from the socket's write queue.
  enableAutoPipelining: false,
  retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
}

export function connectRedis(redis: NonNullable<CacheOptions['redis']>, timeoutMs: number): RedisConnection {
  let client: RedisClient
  let owned = false
  if (isRedisClient(redis)) {
    client = redis
  } else {
    const connectTimeout = Math.max(timeoutMs * 4, 1_000)
    client =
      typeof redis === 'string'
        ? new Redis(redis, { ...OWNED_CLIENT_DEFAULTS, connectTimeout })
        : new Redis({ ...OWNED_CLIENT_DEFAULTS, connectTimeout, ...redis })
    owned = true
    // Without a listener ioredis reports every reconnect attempt as an unhandled error.
    client.on('error', () => {})
    // The app's own client is the app's to keep or close; ours never keeps the process alive.
    releaseProcessHold(client)
  }
  for (const [name, { lua }] of Object.entries(SCRIPTS)) {
    client.defineCommand(name, { lua })
  }
  return {
    client,
    commands: client as unknown as ScriptCommands,
    isCluster: 'isCluster' in client && client.isCluster === true,
    owned,
  }
}

/** Duck-typed, since the app's ioredis may be another copy than ours. */
function isRedisClient(value: unknown): value is RedisClient {
  if (value === null || typeof value !== 'object') return false
  const candidate = value as { defineCommand?: unknown; duplicate?: unknown; status?: unknown }
  return (
    typeof candidate.defineCommand === 'function' &&
    typeof candidate.duplicate === 'function' &&
    typeof candidate.status === 'string'
  )
}
