import { InvalidOptionError } from './errors.js'

/** Milliseconds, or a string such as `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'`. */
export type Duration = number | `${number}${DurationUnit}`
type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd'

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/

// setTimeout and Redis PX both cap out here; a longer TTL would silently wrap.
const MAX_DURATION_MS = 2_147_483_647

/**
 * Parses a duration option into whole milliseconds, throwing an error that
 * names `option` when the value is not a duration or is below `minMs`.
 */
export function parseDuration(value: unknown, option: string, minMs = 0): number {
  const expected = `a duration of at least ${minMs} ms (milliseconds, or a string like '500ms', '30s', '5m', '1h', '1d')`
  let ms: number
  if (typeof value === 'number') {
    ms = value
  } else if (typeof value === 'string') {
    const match = DURATION_PATTERN.exec(value.trim())
    if (!match) throw new InvalidOptionError(option, expected, value)
    ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit]
  } else {
    throw new InvalidOptionError(option, expected, value)
  }
  if (!Number.isFinite(ms) || ms < minMs || ms > MAX_DURATION_MS) throw new InvalidOptionError(option, expected, value)
  return Math.round(ms)
}
