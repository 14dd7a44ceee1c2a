/** What a stored entry says about its age, from either tier. */
export interface Freshness {
  readonly expiresAt: number
  readonly staleUntil: number
  readonly loadMs: number
}

/**
 * Whether an entry is due for a reload: past its expiry (stale-while-revalidate serves it
 * meanwhile), or shortly before it, at random, the more likely the longer its load took (XFetch,
 * Vattani et al., VLDB 2015: -ln(rand) is exponential, so refreshes spread ahead of expiry in
 * proportion to the load time, and a hot key is renewed before its callers see a miss).
 * `beta` 0 turns early refresh off.
 */
export function needsRefresh(freshness: Freshness, now: number, beta: number): boolean {
  if (now >= freshness.expiresAt) return true
  return beta > 0 && now - freshness.loadMs * beta * Math.log(Math.random()) >= freshness.expiresAt
}
