import { createCache } from '../../src/index.js'

/**
 * One process of the memory scenario (run with --expose-gc): caches `count`
 * distinct query results in L1 under a byte budget and reports its memory
 * before and after, so the numbers are this cache's alone.
 */
const [countArgument, budgetArgument] = process.argv.slice(2)
const count = Number(countArgument)
const maxBytes = Number(budgetArgument)
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {})
const cache = createCache({ prefix: `bench-memory-${process.pid}`, l1: { maxBytes } })
collect()
const before = process.memoryUsage()
const row = (id: number) => ({
  id,
  email: `user${id}@example.com`,
  name: `User ${id}`,
  createdAt: new Date(1_700_000_000_000 + id),
  visits: BigInt(id) * 1_000_000_007n,
})
const started = performance.now()
for (let id = 0; id < count; id++) {
  await cache.getOrLoad(`User:findUnique:${id}`, ['User', `User:${id}`], () => row(id))
}
const elapsedMs = performance.now() - started
collect()
const after = process.memoryUsage()
const stats = cache.stats()
await cache.close()
process.send?.({
  count,
  maxBytes,
  elapsedMs,
  rssGrowth: after.rss - before.rss,
  heapGrowth: after.heapUsed - before.heapUsed,
  externalGrowth: after.external - before.external,
  arrayBuffersGrowth: after.arrayBuffers - before.arrayBuffers,
  l1Bytes: stats.l1Bytes,
  l1Entries: stats.l1Entries,
})
