import { serveWorker } from '../fixtures/worker-process.js'

/**
 * One process of the stampede scenario: on `go`, sends `calls` identical reads
 * of a row nobody has cached at once; replies with the statements it sent to
 * the database.
 */
await serveWorker<{ id: number; calls: number }, { queries: number; failures: number }>(
  async ({ id, calls }, { system, counter }) => {
    const before = counter.count
    const results = await Promise.allSettled(Array.from({ length: calls }, () => system.findUser(id)))
    return {
      queries: counter.count - before,
      failures: results.filter((result) => result.status === 'rejected').length,
    }
  },
)
