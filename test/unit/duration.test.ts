import { describe, expect, test } from 'vitest'
import { durationFromMs, parseDuration } from '../../src/duration.js'
import { InvalidOptionError } from '../../src/errors.js'

describe('parseDuration', () => {
  test.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [' 2 s ', 2_000],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDuration(input, 'ttl')).toBe(ms)
  })

  test.each([-5, Number.NaN, Number.POSITIVE_INFINITY, '5', '5 minutes', '-1s', '', '1w', null, {}, 2 ** 40])(
    '%j is refused with the option named',
    (input) => {
      const attempt = () => parseDuration(input, 'ttl')
      expect(attempt).toThrow(InvalidOptionError)
      expect(attempt).toThrow(/`ttl`/)
    },
  )

  test('a minimum is enforced', () => {
    expect(() => parseDuration('0s', 'timeout', 1)).toThrow(
      /`timeout` must be a duration with its unit, of at least 1 ms/,
    )
    expect(parseDuration('0s', 'timeout')).toBe(0)
  })

  test('a bare number is refused, whatever it is: 60 would be 60 ms to some and 60 s to others', () => {
    for (const bare of [60, 1500, 0]) {
      expect(() => parseDuration(bare, 'ttl')).toThrow(
        new RegExp(`\`ttl\` must be .*not a bare number: write '${bare}ms' or '${bare}s'`),
      )
    }
  })

  test('milliseconds an adapter already holds are checked the same way', () => {
    expect(durationFromMs(1_500, 'cacheStrategy.ttl', 1)).toBe(1_500)
    expect(() => durationFromMs(0, 'cacheStrategy.ttl', 1)).toThrow(/`cacheStrategy\.ttl`/)
    expect(() => durationFromMs(2 ** 40, 'cacheStrategy.ttl')).toThrow(/`cacheStrategy\.ttl`/)
  })
})
