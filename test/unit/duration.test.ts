import { describe, expect, test } from 'vitest'
import { parseDuration } from '../../src/duration.js'
import { InvalidOptionError } from '../../src/errors.js'

describe('parseDuration', () => {
  test.each([
    [1500, 1500],
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
    expect(() => parseDuration(0, 'timeout', 1)).toThrow(/`timeout` must be a duration of at least 1 ms/)
    expect(parseDuration(0, 'timeout')).toBe(0)
  })
})
