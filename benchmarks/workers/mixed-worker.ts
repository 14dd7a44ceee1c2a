import { type DatabaseKind, openDatabase, StatementCounter } from '../fixtures/database.js'
import { CACHES } from '../fixtures/systems.js'
import { mulberry32, zipfSampler } from '../fixtures/zipf.js'

/**
 * One process of the mixed scenario: on `go`, reads (95%) and bumps (5%)
 * Zipf-chosen users one at a time for `durationMs`, then replies with every
 * operation's timing and the version it saw or wrote, for the parent's
 * staleness check. A read that sent a statement to the database was a miss.
 */
const [kind, databaseName, users, cacheName, redisUrl, prefix, seed] = process.argv.slice(2)
const entry = CACHES[cacheName ?? '']
if (entry === undefined || process.send === undefined) throw new Error(`unknown cache ${cacheName}`)
const send = process.send.bind(process)
const database = await openDatabase(kind as DatabaseKind, Number(users), databaseName)
const counter = new StatementCounter()
const system = await entry.factory.create(database, redisUrl ?? '', prefix ?? '', counter)
const clock = () => performance.timeOrigin + performance.now()
// A cold client (connections, Prisma's query compiler) would be measured instead of the cache.
for (let id = 1; id <= 200; id++) await system.findUser(id)
for (let id = 1; id <= 5; id++) await system.bumpUser(id)

process.on('message', async (message: { go: { durationMs: number; keys: number } }) => {
  const nextKey = zipfSampler(message.go.keys, 1.1, Number(seed))
  const random = mulberry32(Number(seed) + 1)
  // Flat arrays: [id, version, startMs, endMs, missed] per operation.
  const reads: number[] = []
  const writes: number[] = []
  const latenciesUs: number[] = []
  let failures = 0
  const deadline = clock() + message.go.durationMs
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
  await new Promise((resolve) => send({ reads, writes, latenciesUs, failures }, undefined, undefined, resolve))
  await system.close()
  await database.close()
  process.disconnect()
})
send('ready')
