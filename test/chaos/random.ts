// Seeded randomness for the chaos workers: a run is replayed from its seed
// (the order of operations, not their timing, which the scheduler decides).

/** A uniform number in [0, 1): mulberry32, small and good enough for choosing operations. */
export type Random = () => number

export function seededRandom(seed: number): Random {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = state
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1)
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61)
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * Ranks 1..`count` drawn with probability proportional to 1 / rank^`exponent`
 * (Zipf): a few hot rows take most of the traffic, as in production caches,
 * so reads and writes of the same row meet often.
 */
export function zipfSampler(count: number, exponent: number, random: Random): () => number {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`zipfSampler: count must be a positive integer, not ${count}`)
  const cumulative = new Float64Array(count)
  let total = 0
  for (let rank = 1; rank <= count; rank++) {
    total += 1 / rank ** exponent
    cumulative[rank - 1] = total
  }
  return () => {
    const target = random() * total
    // The first rank whose cumulative weight exceeds the target.
    let low = 0
    let high = count - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (cumulative[middle]! > target) high = middle
      else low = middle + 1
    }
    return low + 1
  }
}

/** `count` distinct ranks from `sample`, for writes that touch several rows. */
export function distinct(sample: () => number, count: number): number[] {
  const chosen = new Set<number>()
  while (chosen.size < count) chosen.add(sample())
  return [...chosen]
}
