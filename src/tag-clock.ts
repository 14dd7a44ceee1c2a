/**
 * Tells, without touching Redis, whether anything this process knows of has
 * invalidated one of an entry's tags since a given moment. L1 entries and
 * loads under way record `now()` when they start; an entry is valid while no
 * tag of it was invalidated after that.
 *
 * A logical clock rather than timestamps, so two invalidations in one
 * millisecond are still ordered. The map is bounded: when a tag is dropped
 * to make room, the floor rises to its time, and every tag not in the map is
 * taken to have been invalidated at the floor — conservative, never stale.
 */
export class TagClock {
  #tick = 0
  #floor = 0
  #clearedAt = 0
  readonly #invalidatedAt = new Map<string, number>()
  readonly #maxTags: number

  constructor(maxTags = 100_000) {
    this.#maxTags = maxTags
  }

  now(): number {
    return this.#tick
  }

  invalidate(tags: readonly string[]): void {
    const at = ++this.#tick
    for (const tag of tags) {
      // Re-inserting moves the tag to the end, so the map's order is oldest first.
      this.#invalidatedAt.delete(tag)
      this.#invalidatedAt.set(tag, at)
    }
    while (this.#invalidatedAt.size > this.#maxTags) {
      const [oldestTag, oldestAt] = this.#invalidatedAt.entries().next().value as [string, number]
      this.#invalidatedAt.delete(oldestTag)
      this.#floor = Math.max(this.#floor, oldestAt)
    }
  }

  /** Everything recorded before now becomes invalid (Redis restarted, the bus was down). */
  invalidateAll(): void {
    this.#clearedAt = ++this.#tick
    this.#floor = this.#clearedAt
    this.#invalidatedAt.clear()
  }

  /** True when none of `tags` was invalidated after `since` (a value of `now()`). */
  isCurrent(tags: readonly string[], since: number): boolean {
    if (since >= this.#tick) return true
    if (since < this.#clearedAt) return false
    for (const tag of tags) {
      if ((this.#invalidatedAt.get(tag) ?? this.#floor) > since) return false
    }
    return true
  }
}
