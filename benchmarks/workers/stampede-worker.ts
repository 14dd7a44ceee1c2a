import { type DatabaseKind, openDatabase, StatementCounter } from '../fixtures/database.js'
import { CACHES } from '../fixtures/systems.js'

/**
 * One process of the stampede scenario: opens the run's tables and one cache,
 * says `ready`, and on `go` sends `calls` identical reads of a row nobody has
 * cached at once; replies with the statements it sent to the database.
 */
const [kind, databaseName, users, cacheName, redisUrl, prefix] = process.argv.slice(2)
const entry = CACHES[cacheName ?? '']
if (entry === undefined || process.send === undefined) throw new Error(`unknown cache ${cacheName}`)
const send = process.send.bind(process)
const database = await openDatabase(kind as DatabaseKind, Number(users), databaseName)
const counter = new StatementCounter()
const system = await entry.factory.create(database, redisUrl ?? '', prefix ?? '', counter)
process.on('message', async (message: { go: { id: number; calls: number } }) => {
  const before = counter.count
  const results = await Promise.allSettled(
    Array.from({ length: message.go.calls }, () => system.findUser(message.go.id)),
  )
  const failures = results.filter((result) => result.status === 'rejected').length
  await new Promise((resolve) => send({ queries: counter.count - before, failures }, undefined, undefined, resolve))
  await system.close()
  await database.close()
  process.disconnect()
})
send('ready')
