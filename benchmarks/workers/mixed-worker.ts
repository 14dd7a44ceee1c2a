import { serveWorker } from '../fixtures/worker-process.js'
import { mulberry32, zipfSampler } from '../fixtures/zipf.js'

/**
 * One process of the mixed scenario: on `go`, reads (95%) and bumps (5%)
 * Zipf-chosen users one at a time for `durationMs`, then replies with every
 * operation's timing and the version it saw or wrote, for the parent's
 * staleness check. A read that sent a statement to the database was a miss.
 */
const clock = () => performance.timeOrigin + performance.now()

await serveWorker<{ durationMs: number; keys: number }, unknown>(
  async ({ durationMs, keys }, { system, counter, extra: [seed] }) => {
    const nextKey = zipfSampler(keys, 1.1, Number(seed))
    const random = mulberry32(Number(seed) + 1)
    // Flat arrays: [id, version, startMs, endMs, missed] per operation.
    const reads: number[] = []
    const writes: number[] = []
    const latenciesUs: number[] = []
    let failures = 0
    const deadline = clock() + durationMs
    while (clock() < deadline) {
      const id = nextKey()
      const start = clock()
      const statementsBefore = counter.count
      try {
        if (random() < 0.05) {
          const version = await system.bumpUser(id)
          writes.push(id, version, start, clock(), 0)
        } else {
          const row = (await system.findUser(id)) as { visits: unknown } | null
          reads.push(id, Number(row?.visits), start, clock(), counter.count > statementsBefore ? 1 : 0)
        }
        latenciesUs.push((clock() - start) * 1_000)
      } catch {
        failures++
      }
    }
    return { reads, writes, latenciesUs, failures }
  },
  // A cold client (connections, Prisma's query compiler) would be measured instead of the cache.
  async (system) => {
    for (let id = 1; id <= 200; id++) await system.findUser(id)
    for (let id = 1; id <= 5; id++) await system.bumpUser(id)
  },
)
