import { Redis } from 'ioredis'
import { Packr } from 'msgpackr'
import type { BenchDatabase } from '../fixtures/database.js'
import { describeDifference } from '../fixtures/difference.js'
import {
  bentoCache,
  cacheable,
  noopExtension,
  ormcache,
  prismaExtensionRedis,
  type ReadSystem,
  type SystemFactory,
  uncached,
} from '../fixtures/prisma-systems.js'
import type { Run } from '../harness.js'

/**
 * Prisma reads through every cache, next to the floors measured in the same
 * run: a `Map` lookup, the no-op query extension (what any extension-based
 * cache pays before it can answer), a raw ioredis GET + msgpackr unpack of the
 * same result, and the uncached query. Misses read a row (or page) no earlier
 * iteration read, so each is a real load + store.
 */
export async function prismaReadsScenario(run: Run, database: BenchDatabase, redisUrl: string | undefined) {
  const shapes = [
    { label: 'findUnique by id', read: (system: ReadSystem, n: number) => system.findUser(n + 1) },
    { label: `findMany include posts (20 rows)`, read: (system: ReadSystem, n: number) => system.listUsers(n) },
  ]
  const prefix = `bench-${process.pid}-prisma`
  const admin = redisUrl === undefined ? undefined : new Redis(redisUrl)
  try {
    for (const shape of shapes) {
      const scenario = `prisma ${shape.label}, ${database.kind}`
      const plain = await uncached.create(database, '', '')
      const expected = await shape.read(plain, 0)
      const map = new Map([['k', expected]])
      await run.measure(scenario, 'Map.get (floor)', async () => map.get('k'))
      const noop = await noopExtension.create(database, '', '')
      await run.measure(scenario, 'no-op extension (floor)', () => shape.read(noop, 0))
      await noop.close()
      let uncachedRow = 1
      await run.measure(scenario, 'uncached (floor)', () => shape.read(plain, uncachedRow++ % (database.users - 20)))
      if (admin === undefined || redisUrl === undefined) {
        await plain.close()
        continue
      }
      const packr = new Packr({ useRecords: false })
      const rawKey = `${prefix}:raw`
      await admin.set(rawKey, packr.pack(expected))
      await run.measure(scenario, 'ioredis GET + unpack (floor)', async () =>
        packr.unpack((await admin.getBuffer(rawKey)) ?? Buffer.alloc(0)),
      )

      const tiers: { factory: SystemFactory; hit: 'L1' | 'L2' | 'Redis' }[] = [
        { factory: ormcache(true), hit: 'L1' },
        { factory: ormcache(false), hit: 'L2' },
        { factory: prismaExtensionRedis, hit: 'Redis' },
        { factory: bentoCache(true), hit: 'L1' },
        { factory: bentoCache(false), hit: 'L2' },
        { factory: cacheable(true), hit: 'L1' },
        { factory: cacheable(false), hit: 'L2' },
      ]
      for (const { factory, hit } of tiers) {
        const systemPrefix = `${prefix}-${factory.name.replace(/\W+/g, '-')}-${shape.label.length}`
        const system = await factory.create(database, redisUrl, systemPrefix)
        const hitFloor = hit === 'L1' ? 'no-op extension (floor)' : 'ioredis GET + unpack (floor)'
        try {
          await run.measure(scenario, `${factory.name} hit`, () => shape.read(system, 0), { floor: hitFloor })
          // After thousands of reads of it, this one is a hit for every system.
          const difference = describeDifference(await shape.read(system, 0), expected)
          run.note(scenario, factory.name, `${system.setup}; hit result: ${difference ?? 'exact'}`)
          // Misses start past the rows the hits and the uncached floor used.
          let missRow = 1
          await run.measure(scenario, `${factory.name} miss`, () => shape.read(system, missRow++ % database.users), {
            floor: 'uncached (floor)',
          })
        } catch (error) {
          run.note(scenario, factory.name, `fails: ${(error as Error).message.split('\n')[0]}`)
        } finally {
          await system.close()
          await deleteMatching(admin, `*${systemPrefix}*`)
        }
      }
      await admin.del(rawKey)
      await plain.close()
    }
  } finally {
    admin?.disconnect()
  }
}

export async function deleteMatching(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.unlink(...keys)
  } while (cursor !== '0')
}
