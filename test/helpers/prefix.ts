// Tests share one Redis, so each test owns a key prefix and deletes only what
// carries it; nothing here may touch keys of another test or flush the server.
import { randomBytes } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

const UNSAFE_PREFIX_CHARACTERS = /[^A-Za-z0-9_.-]+/g
const GLOB_SPECIAL_CHARACTERS = /[*?[\]\\^]/g
const SCAN_BATCH = 500

/**
 * A key prefix no other test uses: `t-<label>-<random>`, made only of
 * `[A-Za-z0-9_.-]` (the cache's own rule) so it is safe inside a SCAN pattern and never contains
 * the braces of a Redis Cluster hash tag.
 */
export function uniquePrefix(label: string): string {
  const safeLabel = label.replace(UNSAFE_PREFIX_CHARACTERS, '-').slice(0, 40) || 'test'
  return `t-${safeLabel}-${randomBytes(6).toString('hex')}`
}

/**
 * Deletes every key that starts with `prefix` or `{prefix}` (tag keys are
 * `{<prefix>}:t:<tag>`, hash-tagged so a cluster keeps them in one slot).
 * Returns how many keys were deleted. SCAN is fine here, in test cleanup,
 * never on a hot path. The client must not use ioredis `keyPrefix`: SCAN
 * patterns are not prefixed but deletes would be.
 */
export async function deleteKeysWithPrefix(redis: Redis | Cluster, prefix: string): Promise<number> {
  if (prefix.length === 0) throw new Error('deleteKeysWithPrefix needs a non-empty prefix: it would delete every key')
  const pattern = escapeGlob(prefix)
  const patterns = [`${pattern}*`, `{${pattern}}*`]
  // In a cluster every master holds its own share of the keys.
  const nodes = redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis]
  let deleted = 0
  for (const node of nodes) {
    for (const match of patterns) deleted += await deleteMatching(node, match)
  }
  return deleted
}

async function deleteMatching(node: Redis, match: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [nextCursor, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_BATCH)
    cursor = nextCursor
    if (keys.length > 0) {
      // One UNLINK per key: in a cluster, a multi-key UNLINK across slots is refused.
      const pipeline = node.pipeline()
      for (const key of keys) pipeline.unlink(key)
      const results = (await pipeline.exec()) ?? []
      for (const [error, count] of results) {
        if (error) throw error
        deleted += Number(count)
      }
    }
  } while (cursor !== '0')
  return deleted
}

/** Every key name under `prefix` (entries, locks, and the `{prefix}` tag keys) on one server, sorted. */
export async function keysWithPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const pattern = escapeGlob(prefix)
  const found: string[] = []
  for (const match of [`${pattern}*`, `{${pattern}}*`]) {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_BATCH)
      cursor = next
      found.push(...keys)
    } while (cursor !== '0')
  }
  return found.sort()
}

/** How many keys match `match` (a SCAN pattern) on one server: for tests that wait for entries to land. */
export async function countKeys(redis: Redis, match: string): Promise<number> {
  let cursor = '0'
  let count = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_BATCH)
    cursor = next
    count += keys.length
  } while (cursor !== '0')
  return count
}

/**
 * True when `key` holds a stored entry: a read that finds no entry leaves its fill lock (a NUL
 * byte, then `fill:` and a token) in the entry's key until the load's entry replaces it, so the
 * key existing is not yet the entry being there.
 */
export async function entryStored(redis: Redis | Cluster, key: string): Promise<boolean> {
  const bytes = await redis.getBuffer(key)
  return bytes !== null && bytes.length > 0 && bytes[0] !== 0
}

/** How many keys matching `match` hold stored entries (not fill locks). */
export async function countEntries(redis: Redis, match: string): Promise<number> {
  let cursor = '0'
  let count = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_BATCH)
    cursor = next
    for (const key of keys) if (await entryStored(redis, key)) count++
  } while (cursor !== '0')
  return count
}

function escapeGlob(text: string): string {
  return text.replace(GLOB_SPECIAL_CHARACTERS, (character) => `\\${character}`)
}
