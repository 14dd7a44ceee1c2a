// The coherence checker on hand-made histories: what it must flag and what it must not.
import { describe, expect, test } from 'vitest'
import {
  checkHistory,
  confirmationTimes,
  type Delivery,
  describeViolation,
  type Origin,
  pairDeliveries,
  type ReadRecord,
  type WriteRecord,
} from './history.js'
import { bucketOf, rowOfRank, rowsOfBucket } from './table.js'

const TAGS = JSON.stringify(['ChaosRow', 'ChaosRow#1'])

function write(worker: number, end: number, versions: [row: number, version: number][], invalidatedAt = end - 1) {
  return {
    worker,
    op: 'update',
    start: end - 2,
    end,
    versions: versions.map(([row, version]) => ({ row, version })),
    invalidations: [{ at: invalidatedAt, tags: TAGS }],
  } satisfies WriteRecord
}

function read(worker: number, origin: Origin, start: number, row: number, version: number): ReadRecord {
  return { worker, op: 'by-id', origin, start, end: start + 1, seen: [{ rows: [row], versionSum: version }] }
}

interface CheckSettings {
  readonly memoryLagMs?: number
  readonly cluster?: { readonly deliveries: readonly Delivery[]; readonly unmeasuredLagMs: number }
  readonly confirmedAt?: ReadonlyMap<WriteRecord, number>
}

const check = (reads: ReadRecord[], writes: WriteRecord[], settings: CheckSettings = {}) =>
  checkHistory(reads, writes, { initialVersion: 0, memoryLagMs: 5, ...settings })

describe('checkHistory', () => {
  const written = write(0, 100, [[1, 1]])

  test('flags a read from the database or Redis older than a write returned before it began', () => {
    for (const origin of ['database', 'l2', 'bypass'] as const) {
      const { violations } = check([read(1, origin, 101, 1, 0)], [written])
      expect(violations).toHaveLength(1)
      expect(violations[0]?.expectedAtLeast).toBe(1)
    }
  })

  test('does not flag a read that began before the write returned, nor one that saw it', () => {
    expect(check([read(1, 'database', 99, 1, 0)], [written]).violations).toEqual([])
    expect(check([read(1, 'l2', 101, 1, 1)], [written]).violations).toEqual([])
    // Newer than anything returned: a write still under way, already committed.
    expect(check([read(1, 'database', 101, 1, 2)], [written]).violations).toEqual([])
  })

  test("another process's memory may serve the old version up to memoryLagMs after the write returned, not after", () => {
    const before = check([read(1, 'l1', 104, 1, 0), read(1, 'stale', 104, 1, 0)], [written])
    expect(before.violations).toEqual([])
    expect(before.l1Staleness).toEqual([4, 4])
    expect(check([read(1, 'l1', 106, 1, 0)], [written]).violations).toHaveLength(1)
    expect(check([read(1, 'l1', 106, 1, 0)], [written], { memoryLagMs: 10 }).violations).toEqual([])
  })

  test('a read that joined a load under way in its process has the same window as L1, in other processes only', () => {
    expect(check([read(1, 'flight', 104, 1, 0)], [written]).violations).toEqual([])
    expect(check([read(1, 'flight', 106, 1, 0)], [written]).violations).toHaveLength(1)
    expect(check([read(0, 'flight', 101, 1, 0)], [written]).violations).toHaveLength(1)
  })

  test("the writer's own memory gets no allowance: read-your-writes", () => {
    expect(check([read(0, 'l1', 101, 1, 0)], [written], { memoryLagMs: 1_000 }).violations).toHaveLength(1)
  })

  test('an L2 read gets no allowance even while the bus message is on its way', () => {
    expect(check([read(1, 'l2', 101, 1, 0)], [written], { memoryLagMs: 1_000 }).violations).toHaveLength(1)
  })

  test("on a cluster, another process's memory may also lag until the delivery measured in it (or by the largest lag measured)", () => {
    const cluster = { deliveries: [{ write: written, receiver: 1, at: 150 }], unmeasuredLagMs: 20 }
    expect(check([read(1, 'l1', 149, 1, 0)], [written], { cluster }).violations).toEqual([])
    expect(check([read(1, 'l1', 151, 1, 0)], [written], { cluster }).violations).toHaveLength(1)
    // Not measured in worker 2: the largest lag measured.
    expect(check([read(2, 'l1', 119, 1, 0)], [written], { cluster }).violations).toEqual([])
    expect(check([read(2, 'l1', 121, 1, 0)], [written], { cluster }).violations).toHaveLength(1)
    // A receipt matched too early (a resent invalidation received twice) does not shorten the single-Redis bound.
    const early = { deliveries: [{ write: written, receiver: 1, at: 99 }], unmeasuredLagMs: 20 }
    expect(check([read(1, 'l1', 104, 1, 0)], [written], { cluster: early }).violations).toEqual([])
  })

  test('a write that returned before Redis had its invalidation: other processes may serve the old version until it did', () => {
    const late: WriteRecord = { ...written, invalidationFailedAt: 99 }
    const confirmedAt = new Map([[late, 300]])
    const checkLate = (reads: ReadRecord[]) => check(reads, [late], { confirmedAt }).violations
    expect(checkLate([read(1, 'l2', 299, 1, 0), read(1, 'l1', 304, 1, 0), read(1, 'flight', 304, 1, 0)])).toEqual([])
    expect(checkLate([read(1, 'l2', 301, 1, 0)])).toHaveLength(1)
    expect(checkLate([read(1, 'l1', 306, 1, 0)])).toHaveLength(1)
    // Read-your-writes and the database owe nothing to Redis.
    expect(checkLate([read(0, 'l2', 101, 1, 0)])).toHaveLength(1)
    expect(checkLate([read(0, 'l1', 101, 1, 0)])).toHaveLength(1)
    expect(checkLate([read(1, 'database', 101, 1, 0)])).toHaveLength(1)
    // Never confirmed: nothing bounds it here (the fault check requires every one to be confirmed).
    expect(check([read(1, 'l2', 10_000, 1, 0)], [late]).violations).toEqual([])
    const result = check([read(1, 'l2', 250, 1, 0), read(1, 'l1', 260, 1, 0)], [late], { confirmedAt })
    expect(result.l2Staleness).toEqual([150])
    expect(result.l1Staleness).toEqual([160])
    expect(result.behindLate).toBe(2)
    expect(check([read(1, 'l1', 102, 1, 0)], [written]).behindLate).toBe(0)
  })

  test("a failed invalidation is confirmed by its writer's first confirmation after the failure", () => {
    const late: WriteRecord = { ...written, invalidationFailedAt: 99 }
    const other: WriteRecord = { ...write(2, 100, [[2, 1]]), invalidationFailedAt: 98 }
    const confirmations = [
      { worker: 0, at: 50 },
      { worker: 2, at: 120 },
      { worker: 0, at: 400 },
      { worker: 0, at: 300 },
    ]
    const confirmed = confirmationTimes([late, other, written], confirmations)
    expect([...confirmed]).toEqual([
      [late, 300],
      [other, 120],
    ])
    expect(confirmationTimes([late], [{ worker: 0, at: 50 }]).has(late)).toBe(false)
  })

  test('the highest version returned counts, whatever order the writes returned in', () => {
    const writes = [write(0, 100, [[1, 2]]), write(2, 105, [[1, 1]])]
    expect(check([read(1, 'database', 101, 1, 1)], writes).violations).toHaveLength(1)
    expect(check([read(1, 'database', 106, 1, 2)], writes).violations).toEqual([])
  })

  test('a sum over rows must reach the sum of their versions committed before it', () => {
    const writes = [write(0, 100, [[1, 1]]), write(0, 100, [[2, 3]])]
    const sum = (versionSum: number): ReadRecord => ({
      worker: 1,
      op: 'sum',
      origin: 'l2',
      start: 101,
      end: 102,
      seen: [{ rows: [1, 2, 3], versionSum }],
    })
    expect(check([sum(3)], writes).violations).toHaveLength(1)
    expect(check([sum(4)], writes).violations).toEqual([])
  })

  test('the description shows the writes and reads of the rows around the stale read', () => {
    const stale = read(1, 'l2', 101, 1, 0)
    const reads = [read(2, 'database', 90, 1, 0), stale, read(2, 'database', 300, 1, 1)]
    const [violation] = check(reads, [written]).violations
    const text = describeViolation(violation!, reads, [written], [{ write: written, receiver: 1, at: 104 }])
    expect(text).toContain('invalidation reached worker 1 at     3.000 ms')
    expect(text).toContain('worker 0 update wrote row 1 = v1')
    expect(text).toContain('worker 1 by-id from l2 saw 1 = 0  <== STALE')
    expect(text).toContain('worker 2 by-id from database saw 1 = 0')
    expect(text).not.toContain('saw 1 = 1')
    const late: WriteRecord = { ...written, invalidationFailedAt: 99.5 }
    const [lateViolation] = check([stale], [late], { confirmedAt: new Map([[late, 100.5]]) }).violations
    expect(describeViolation(lateViolation!, [stale], [late])).toContain(
      'returned before Redis had its invalidation (failed at    -1.500 ms)',
    )
  })
})

describe('pairDeliveries', () => {
  test('pairs the n-th receipt of a tag set at a worker with the n-th invalidation of it by the others', () => {
    const first = write(0, 10, [[1, 1]], 9)
    const second = write(2, 20, [[1, 2]], 19)
    const receipts = [
      { worker: 1, at: 12, tags: TAGS },
      { worker: 1, at: 21, tags: TAGS },
      { worker: 2, at: 11, tags: TAGS },
      { worker: 0, at: 22, tags: TAGS },
    ]
    const deliveries = pairDeliveries([first, second], receipts)
    const summary = deliveries.map(({ write, receiver, at }) => [write.worker, receiver, at]).sort()
    expect(summary).toEqual([
      [0, 1, 12],
      [0, 2, 11],
      [2, 0, 22],
      [2, 1, 21],
    ])
  })

  test('an invalidation published without a recorded write (rolled back, aborted) keeps its place in the sequence', () => {
    const recorded = write(0, 20, [[1, 2]], 19)
    const deliveries = pairDeliveries(
      [recorded],
      [
        { worker: 1, at: 11, tags: TAGS },
        { worker: 1, at: 21, tags: TAGS },
      ],
      [{ worker: 0, at: 9, tags: TAGS }],
    )
    expect(deliveries.map(({ write, receiver, at }) => [write, receiver, at])).toEqual([[recorded, 1, 21]])
  })

  test("a write's delivery is when the last of its invalidations arrived; other tags do not pair", () => {
    const other = JSON.stringify(['Other'])
    const twice: WriteRecord = {
      ...write(0, 10, [[1, 1]]),
      invalidations: [
        { at: 8, tags: TAGS },
        { at: 9, tags: other },
      ],
    }
    const deliveries = pairDeliveries(
      [twice],
      [
        { worker: 1, at: 11, tags: TAGS },
        { worker: 1, at: 14, tags: other },
      ],
    )
    expect(deliveries.map(({ receiver, at }) => [receiver, at])).toEqual([[1, 14]])
    expect(pairDeliveries([twice], [{ worker: 1, at: 11, tags: JSON.stringify(['Unrelated']) }])).toEqual([])
  })
})

describe('row choice', () => {
  test('partitions by ORM take alternate buckets, so their rows never meet', () => {
    const prisma = Array.from({ length: 150 }, (_, index) => rowOfRank(index + 1, 0, 2, 10))
    const typeorm = Array.from({ length: 150 }, (_, index) => rowOfRank(index + 1, 1, 2, 10))
    expect(prisma.slice(0, 12)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 21, 22])
    expect(typeorm.slice(0, 3)).toEqual([11, 12, 13])
    expect(new Set([...prisma, ...typeorm]).size).toBe(300)
    expect(prisma.every((row) => bucketOf(row, 10) % 2 === 0)).toBe(true)
    expect(rowsOfBucket(1, 10, 300)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20])
  })
})
