import { seededRandom, zipfSampler } from '../../test/fixtures/random.js'
import { clock, mixedOperation, nextTurn, WRITE_SHARE } from '../fixtures/mixed-operation.js'
import { serveWorker } from '../fixtures/worker-process.js'

/**
 * One process of the mixed scenario: on `go`, reads (95%) and bumps (5%)
 * Zipf-chosen users one at a time, each in its own event-loop turn as a server
 * would handle requests, for `durationMs`, then replies with every
 * operation's timing and the version it saw or wrote, for the parent's
 * staleness check. A read that sent a statement to the database was a miss.
 */
await serveWorker<{ durationMs: number; keys: number }, unknown>(
  async ({ durationMs, keys }, { system, counter, extra: [seed] }) => {
    const nextKey = zipfSampler(keys, 1.1, seededRandom(Number(seed)))
    const random = seededRandom(Number(seed) + 1)
    const log = { reads: [] as number[], writes: [] as number[] }
    const latenciesUs: number[] = []
    let failures = 0
    const deadline = clock() + durationMs
    while (clock() < deadline) {
      await nextTurn()
      const id = nextKey()
      try {
        latenciesUs.push(await mixedOperation(system, counter, id, random() < WRITE_SHARE, log))
      } catch {
        failures++
      }
    }
    return { reads: log.reads, writes: log.writes, latenciesUs, failures }
  },
  // A cold client (connections, Prisma's query compiler) would be measured instead of the cache.
  async (system) => {
    for (let id = 1; id <= 200; id++) await system.findUser(id)
    for (let id = 1; id <= 5; id++) await system.bumpUser(id)
  },
)
