/**
 * Lua run inside Redis, each registered once per client with ioredis
 * `defineCommand` (EVALSHA, with a reload on NOSCRIPT). Names carry a format
 * version so two releases sharing a client cannot run each other's script.
 *
 * Data layout (prefix `p`):
 *   p:e:<key>        an entry: msgpack header (tags, their versions, expiry) + msgpack value
 *   p:l:<key>        the stampede lock of a key: a random token, with a short PX
 *   p:bus            pub/sub channel of invalidations (JSON: sender id and tags)
 *   {p}:t:<tag>      a tag's current version: a unique id, replaced on every invalidation.
 *                    All tags of a prefix share one cluster slot, through the `{p}` hash tag,
 *                    so one script can read or replace any set of them.
 *
 * Stale sets are prevented with versioned tags (Hibernate's put-from-load
 * validator) rather than leases (Facebook's memcache): a load captures its
 * tags' versions in the read it makes anyway, so a miss costs no extra round
 * trip for a lease, nothing has to expire or be released when a loader dies,
 * and a read can check an entry against current versions, which also makes an
 * entry that slipped in on a non-atomic path (cluster) harmless.
 *
 * Versions are unique ids, never counters: a counter restarts at 0 when its key
 * is evicted or Redis restarts empty, and an old entry would match again (ABA).
 * A missing tag therefore gets a new id, which no stored entry carries.
 * Every entry also depends on the tag `*`, which `invalidateAll` replaces.
 */

// Current version of each tag in KEYS[first..], creating missing ones. Shared by READ and TAGS.
const TAG_VERSIONS_LUA = `
local function tag_versions(first, fresh, ttl)
  local versions = {}
  for i = first, #KEYS do
    local version = redis.call('GET', KEYS[i])
    if not version then
      version = fresh .. '.' .. i
      redis.call('SET', KEYS[i], version, 'PX', ttl)
    elseif redis.call('PTTL', KEYS[i]) < ttl / 2 then
      -- Keep tags alive while entries depend on them; an expired tag only costs misses.
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
    versions[#versions + 1] = version
  end
  return versions
end
`

/**
 * READ — an entry, its tags' current versions and, for a caller about to load,
 * the stampede lock, in one round trip (standalone Redis), so a miss costs no
 * more round trips before its database query than a hit.
 * KEYS[1] entry, KEYS[2] lock, KEYS[3..] tags; ARGV[1] a fresh unique id, ARGV[2] tag TTL in ms,
 * ARGV[3] a lock token ('' to leave the lock alone), ARGV[4] lock TTL in ms.
 * Returns { entry or false, lock, version of KEYS[3], version of KEYS[4], … } where lock is
 * 0 (not tried: no token, or the entry looks current), 1 (taken with the token), 2 (held by another).
 *
 * Whether the entry is current is only estimated here, by finding each current version in the
 * entry's header bytes; the caller decides from the decoded header. A wrong estimate costs a lock
 * taken and released, or one more round trip for it, never a stale answer.
 */
export const READ_SCRIPT = `${TAG_VERSIONS_LUA}
local entry = redis.call('GET', KEYS[1])
local versions = tag_versions(3, ARGV[1], tonumber(ARGV[2]))
local lock = 0
if ARGV[3] ~= '' then
  local current = entry ~= false
  if current then
    -- The header, which holds the versions, comes first; 4 KiB covers any usual tag list.
    local head = string.sub(entry, 1, 4096)
    for i = 1, #versions do
      if not string.find(head, versions[i], 1, true) then
        current = false
        break
      end
    end
  end
  if not current then
    if redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4], 'NX') then lock = 1 else lock = 2 end
  end
end
table.insert(versions, 1, lock)
table.insert(versions, 1, entry)
return versions
`

/**
 * TAGS — the tags' current versions (Redis Cluster, where entries live in other slots than tags).
 * KEYS tags; ARGV[1] a fresh unique id, ARGV[2] tag TTL in ms. Returns the versions in KEYS order.
 */
export const TAGS_SCRIPT = `${TAG_VERSIONS_LUA}
return tag_versions(1, ARGV[1], tonumber(ARGV[2]))
`

/**
 * STORE — sets the entry only if every tag still has the version captured before
 * the load, so a load that raced an invalidation leaves nothing behind; then
 * releases the loader's stampede lock, if it still holds our token, in the same
 * round trip: the waiters' next poll finds the entry (or the lock gone) at once.
 * KEYS[1] entry, KEYS[2] lock, KEYS[3..] tags; ARGV[1] entry bytes, ARGV[2] entry TTL in ms,
 * ARGV[3] lock token ('' when we hold none), ARGV[4..] the captured versions in KEYS order.
 * Returns 1 if stored, 0 if a tag moved on.
 */
export const STORE_SCRIPT = `
local stored = 1
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[i + 1] then
    stored = 0
    break
  end
end
if stored == 1 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return stored
`

/**
 * MATCH — 1 if every tag still has the given version (Redis Cluster, before a plain SET of the entry).
 * KEYS tags; ARGV the captured versions in KEYS order.
 */
export const MATCH_SCRIPT = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[i] then return 0 end
end
return 1
`

/**
 * INVALIDATE — gives every tag a new unique version, which every entry loaded
 * under the old one no longer matches, and tells the other instances, in one
 * atomic step: no instance can see the new version without the message being
 * on its way. O(tags), whatever the number of entries.
 * KEYS tags; ARGV[1] a fresh unique id, ARGV[2] tag TTL in ms, ARGV[3] bus channel, ARGV[4] bus message.
 */
export const INVALIDATE_SCRIPT = `
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1] .. '.' .. i, 'PX', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return #KEYS
`

/**
 * UNLOCK — deletes the stampede lock only if it still holds our token: after
 * our lock expired and another instance took it, we must not release theirs.
 * KEYS[1] lock; ARGV[1] token. Returns 1 if released.
 */
export const UNLOCK_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

export const SCRIPTS = {
  ormcacheReadV2: READ_SCRIPT,
  ormcacheTagsV1: TAGS_SCRIPT,
  ormcacheStoreV2: STORE_SCRIPT,
  ormcacheMatchV1: MATCH_SCRIPT,
  ormcacheInvalidateV1: INVALIDATE_SCRIPT,
  ormcacheUnlockV1: UNLOCK_SCRIPT,
} as const
