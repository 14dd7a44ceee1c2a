import { InvalidOptionError } from './errors.js'

/**
 * A length of time with its unit: `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'`. Never a bare number:
 * `60` is 60 ms to `setTimeout` and TypeORM but 60 s to Prisma Accelerate and Redis `EX`, and a
 * cache that guessed wrong would hold entries a thousand times too long or too short.
 */
export type Duration = `${number}${DurationUnit}`
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
  const expected = `a duration with its unit, of at least ${minMs} ms ('500ms', '30s', '5m', '1h', '1d')`
  if (typeof value === 'number') {
    throw new InvalidOptionError(option, `${expected}, not a bare number: write '${value}ms' or '${value}s'`, value)
  }
  if (typeof value !== 'string') throw new InvalidOptionError(option, expected, value)
  const match = DURATION_PATTERN.exec(value.trim())
  if (!match) throw new InvalidOptionError(option, expected, value)
  const ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit]
  return checkedMs(ms, option, expected, value, minMs)
}

/** Milliseconds the adapters already hold (an ORM's own option in its own unit), checked like a parsed duration. */
export function durationFromMs(ms: number, option: string, minMs = 0): number {
  return checkedMs(ms, option, `a duration of at least ${minMs} ms`, ms, minMs)
}

function checkedMs(ms: number, option: string, expected: string, value: unknown, minMs = 0): number {
  if (!Number.isFinite(ms) || ms < minMs || ms > MAX_DURATION_MS) throw new InvalidOptionError(option, expected, value)
  return Math.round(ms)
}
