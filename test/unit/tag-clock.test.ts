import { describe, expect, test } from 'vitest'
import { TagClock } from '../../src/tag-clock.js'

describe('TagClock', () => {
  test('an invalidation after a moment makes that moment stale for its tags only', () => {
    const clock = new TagClock()
    const since = clock.now()
    clock.invalidate(['User:1'])
    expect(clock.isCurrent(['User:1'], since)).toBe(false)
    expect(clock.isCurrent(['User', 'User:2'], since)).toBe(true)
    expect(clock.isCurrent(['User:1'], clock.now())).toBe(true)
  })

  test('invalidateAll makes every earlier moment stale, even for entries without tags', () => {
    const clock = new TagClock()
    const since = clock.now()
    clock.invalidateAll()
    expect(clock.isCurrent([], since)).toBe(false)
    expect(clock.isCurrent(['x'], since)).toBe(false)
    expect(clock.isCurrent(['x'], clock.now())).toBe(true)
  })

  test('forgetting old tags errs on the side of staleness', () => {
    const clock = new TagClock(2)
    const before = clock.now()
    clock.invalidate(['a'])
    const between = clock.now()
    clock.invalidate(['b'])
    clock.invalidate(['c']) // 'a' is dropped: the floor rises to its time
    expect(clock.isCurrent(['a'], before)).toBe(false)
    expect(clock.isCurrent(['a'], between)).toBe(true)
    expect(clock.isCurrent(['zzz'], before)).toBe(false)
    expect(clock.isCurrent(['b'], between)).toBe(false)
  })
})
