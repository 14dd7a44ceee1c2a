import { setTimeout as sleep } from 'node:timers/promises'
import type { FillWatch } from './bus.js'
import type { FillRequest, HeldLock, L2, L2Read } from './l2.js'

/**
 * What a read through Redis comes to: an entry to serve, a load to run (holding a lock if
 * stampede protection is on, with the tags' versions captured before it), or nothing to do (a
 * refresh another instance is already making).
 */
export type Claim<Hit> =
  | { readonly kind: 'hit'; readonly hit: Hit }
  | { readonly kind: 'load'; readonly versions: readonly string[]; readonly lock?: HeldLock }
  | { readonly kind: 'skip' }

export interface ClaimSettings {
  readonly l2: L2
  readonly lock: false | { readonly ttlMs: number; readonly waitMs: number }
  nextId(): string
  now(): number
  closed(): boolean
  /** Listens for the end of the key's fill lock, when announcements can be heard; else the waiter polls. */
  watchFill(key: string): FillWatch | undefined
  /** A waiter started waiting for another instance's load; then how its wait ended. */
  waitStarted(): void
  waitEnded(key: string, outcome: 'filled' | 'acquired' | 'timeout', waitedMs: number): void
}

/**
 * The cross-instance half of stampede protection. A read that finds no entry takes the key's
 * fill lock in the same command, in the entry's own key (as IdentityCache's fill lock does): an
 * instance that finds the lock there waits for the holder's entry and takes the lock over once it
 * is gone (the holder died, failed, or its entry was refused), never waiting past `lock.wait`.
 * The holder announces the end of its lock on the key's fill channel, so a waiter that listens
 * there looks once when it ends (and every `ANNOUNCED_POLL_MS` for a holder that died silently);
 * without announcements (a cluster, the bus down) it polls with a short, growing interval. A read
 * that finds a stale entry replaces it with its lock in one more round trip. A refresh, which
 * keeps the entry served meanwhile, takes a separate refresh lock instead, and gives up if
 * another instance holds it.
 *
 * `serve` judges what a read found: the value to return, or undefined for no usable entry.
 */
export async function claimLoad<Hit>(
  settings: ClaimSettings,
  key: string,
  tags: readonly string[],
  refreshing: boolean,
  serve: (read: L2Read) => Hit | undefined,
): Promise<Claim<Hit>> {
  const { l2, lock } = settings
  if (lock === false) {
    const read = await l2.read(key, tags, settings.nextId())
    const hit = serve(read)
    return hit === undefined ? { kind: 'load', versions: read.versions } : { kind: 'hit', hit }
  }
  const token = settings.nextId()
  const fill: FillRequest = { token, ttlMs: lock.ttlMs }
  const read = await l2.read(key, tags, settings.nextId(), refreshing ? undefined : fill)
  const hit = serve(read)
  if (hit !== undefined) return { kind: 'hit', hit }
  if (refreshing) {
    if (read.fill === 'held') return { kind: 'skip' }
    return (await l2.lockRefresh(key, token, lock.ttlMs))
      ? { kind: 'load', versions: read.versions, lock: { kind: 'refresh', token } }
      : { kind: 'skip' }
  }
  const state = read.fill ?? (await l2.fill(key, token, lock.ttlMs, read.versions))
  if (state === 'acquired') return { kind: 'load', versions: read.versions, lock: { kind: 'fill', token } }
  if (state === 'current') {
    // Redis finds the entry current where this process did not: another instance stored it since
    // the read, or this process cannot use it (other tags, expired by its clock). Read once more.
    const again = await l2.read(key, tags, settings.nextId())
    const late = serve(again)
    return late === undefined ? { kind: 'load', versions: again.versions } : { kind: 'hit', hit: late }
  }
  return waitForFill(settings, key, tags, fill, read.versions, serve)
}

async function waitForFill<Hit>(
  settings: ClaimSettings,
  key: string,
  tags: readonly string[],
  fill: FillRequest,
  versionsSoFar: readonly string[],
  serve: (read: L2Read) => Hit | undefined,
): Promise<Claim<Hit>> {
  const { l2, lock } = settings
  const waitMs = lock === false ? 0 : lock.waitMs
  settings.waitStarted()
  const startedAt = settings.now()
  const deadline = startedAt + waitMs
  const watch = settings.watchFill(key)
  let versions = versionsSoFar
  let pauseMs = 1
  try {
    while (settings.now() < deadline && !settings.closed()) {
      const remainingMs = Math.max(deadline - settings.now(), 0)
      if (watch === undefined) {
        await sleep(Math.min(pauseMs, remainingMs))
        pauseMs = Math.min(pauseMs * 1.5, MAX_POLL_MS)
      } else {
        await watch.next(Math.min(ANNOUNCED_POLL_MS, remainingMs))
      }
      // Each look asks for the lock too: a holder that stores and leaves between a look at the
      // entry and a try at the lock cannot make this waiter load a second time.
      const poll = await l2.read(key, tags, settings.nextId(), fill)
      versions = poll.versions
      const hit = serve(poll)
      if (hit !== undefined) {
        settings.waitEnded(key, 'filled', settings.now() - startedAt)
        return { kind: 'hit', hit }
      }
      const state = poll.fill ?? (await l2.fill(key, fill.token, fill.ttlMs, poll.versions))
      if (state === 'acquired') {
        settings.waitEnded(key, 'acquired', settings.now() - startedAt)
        return { kind: 'load', versions, lock: { kind: 'fill', token: fill.token } }
      }
    }
  } finally {
    watch?.close()
  }
  settings.waitEnded(key, 'timeout', settings.now() - startedAt)
  return { kind: 'load', versions }
}

/** Longest pause between polls of a waiter that hears no announcements. */
const MAX_POLL_MS = 25
/**
 * Pause between looks of a waiter that hears announcements: only a holder that died (its lock
 * expires unannounced) or an announcement lost with the bus leaves it waiting this long.
 */
const ANNOUNCED_POLL_MS = 100
