import { Redis } from 'ioredis'
import { Packr } from 'msgpackr'
import { type BenchDatabase, StatementCounter } from '../fixtures/database.js'
import { describeDifference } from '../fixtures/difference.js'
import type { ReadSystem, SystemFactory } from '../fixtures/read-system.js'
import type { Run } from '../harness.js'

export interface ReadsScenario {
  /** `prisma` or `typeorm`, the first word of each table's title. */
  readonly orm: string
  readonly uncached: SystemFactory
  /** What a cache inside the ORM pays before it can answer (Prisma's no-op query extension). */
  readonly inOrmFloor?: SystemFactory
  /** Each cache, and which tier its hit row measures. */
  readonly systems: readonly { readonly factory: SystemFactory; readonly hit: 'memory' | 'redis' }[]
}

/** Hits read again, counting database statements, to tell a cache that never stores. */
const HIT_CHECK_READS = 20

/** The rows `readsScenario` records, for the progress bar. */
export function readsRowCount(scenario: ReadsScenario, withRedis: boolean): number {
  const floors = 2 + (scenario.inOrmFloor === undefined ? 0 : 1)
  return 2 * (withRedis ? floors + 1 + 2 * scenario.systems.length : floors)
}

/**
 * Reads through every cache, next to the floors measured in the same run: a
 * `Map` lookup, the in-ORM floor if there is one, a raw ioredis GET + msgpackr
 * unpack of the same result, and the uncached query. Misses read a row (or
 * page) no earlier iteration of that system read, so each is a load + store.
 * Each system's note says how it is set up and whether its hit equals the
 * uncached result, types included.
 */
export async function readsScenario(
  run: Run,
  { orm, uncached, inOrmFloor, systems }: ReadsScenario,
  database: BenchDatabase,
  redisUrl: string | undefined,
): Promise<void> {
  const shapes = [
    { label: 'by id', read: (system: ReadSystem, n: number) => system.findUser(n + 1) },
    { label: 'page of 20 with posts', read: (system: ReadSystem, n: number) => system.listUsers(n) },
  ]
  const prefix = `bench-${process.pid}-${orm}`
  const admin = redisUrl === undefined ? undefined : new Redis(redisUrl)
  try {
    for (const [index, shape] of shapes.entries()) {
      const scenario = `${orm} ${shape.label}, ${database.kind}`
      const plain = await uncached.create(database, '', '')
      const expected = await shape.read(plain, 0)
      const map = new Map([['k', expected]])
      await run.measure(scenario, 'Map.get (floor)', async () => map.get('k'))
      if (inOrmFloor !== undefined) {
        const floor = await inOrmFloor.create(database, '', '')
        await run.measure(scenario, `${inOrmFloor.name} (floor)`, () => shape.read(floor, 0))
        await floor.close()
      }
      let uncachedRow = 1
      await run.measure(scenario, 'uncached (floor)', () => shape.read(plain, uncachedRow++ % (database.users - 20)))
      await plain.close()
      if (admin === undefined || redisUrl === undefined) continue

      const packr = new Packr({ useRecords: false })
      const rawKey = `${prefix}:raw`
      await admin.set(rawKey, packr.pack(expected))
      await run.measure(scenario, 'ioredis GET + unpack (floor)', async () =>
        packr.unpack((await admin.getBuffer(rawKey)) ?? Buffer.alloc(0)),
      )
      await admin.del(rawKey)

      const memoryFloor = inOrmFloor === undefined ? 'Map.get (floor)' : `${inOrmFloor.name} (floor)`
      for (const { factory, hit } of systems) {
        const systemPrefix = `${prefix}-${index}-${factory.name.replace(/\W+/g, '-')}`
        const statements = new StatementCounter()
        const system = await factory.create(database, redisUrl, systemPrefix, statements)
        try {
          await run.measure(scenario, `${factory.name} hit`, () => shape.read(system, 0), {
            floor: hit === 'memory' ? memoryFloor : 'ioredis GET + unpack (floor)',
          })
          // After thousands of reads of it, this one should be a hit for every system; a cache that
          // silently never stores (a value its serializer refuses) still sends the query each time.
          const sent = await statements.during(async () => {
            for (let read = 0; read < HIT_CHECK_READS; read++) await shape.read(system, 0)
          })
          const difference = describeDifference(await shape.read(system, 0), expected)
          const served =
            sent === 0
              ? 'no database statement on hits'
              : `NOT CACHED: ${(sent / HIT_CHECK_READS).toFixed(1)} database statements per "hit"`
          run.note(scenario, factory.name, `${system.setup}; ${served}; hit result: ${difference ?? 'exact'}`)
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
