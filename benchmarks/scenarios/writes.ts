import { Redis } from 'ioredis'
import type { BenchDatabase } from '../fixtures/database.js'
import { uncached } from '../fixtures/prisma-systems.js'
import type { ReadSystem } from '../fixtures/read-system.js'
import { CACHES } from '../fixtures/systems.js'
import { typeormUncached } from '../fixtures/typeorm-systems.js'
import type { Run } from '../harness.js'
import { deleteMatching } from './reads.js'

/** The rows `writesScenario` records. */
export function writesRowCount(orms: readonly string[]): number {
  return Object.values(CACHES).filter((entry) => orms.includes(entry.orm)).length
}

/**
 * What a write costs with each cache's invalidation: `update` of one user's
 * name and a read of that user back, next to the same two calls without a
 * cache. The caches hold the user's row before its update, so there is
 * something to invalidate; a read back that returns the old name is counted.
 */
export async function writesScenario(
  run: Run,
  database: BenchDatabase,
  redisUrl: string,
  orms: readonly string[],
): Promise<void> {
  const admin = new Redis(redisUrl)
  try {
    for (const orm of orms) {
      const scenario = `${orm} update by id + read back, ${database.kind}`
      const plain = await (orm === 'prisma' ? uncached : typeormUncached).create(database, '', '')
      let version = 0
      const updateAndRead = async (system: ReadSystem) => {
        const id = 1 + (version % 50)
        const name = `v${version++}`
        await system.renameUser(id, name)
        return (await system.findUser(id)) as { name: string } | null
      }
      await run.measure(scenario, 'uncached (floor)', () => updateAndRead(plain))
      await plain.close()
      for (const [name, entry] of Object.entries(CACHES)) {
        if (entry.orm !== orm || entry.factory.name === 'uncached') continue
        const prefix = `bench-${process.pid}-writes-${name.replace(/\W+/g, '-')}`
        const system = await entry.factory.create(database, redisUrl, prefix)
        try {
          for (let id = 1; id <= 50; id++) await system.findUser(id)
          let reads = 0
          let stale = 0
          await run.measure(
            scenario,
            entry.factory.name,
            async () => {
              const expected = `v${version}`
              const row = await updateAndRead(system)
              reads++
              if (row?.name !== expected) stale++
            },
            { floor: 'uncached (floor)' },
          )
          run.note(scenario, entry.factory.name, `${stale} of ${reads} reads after the update returned the old row`)
        } finally {
          await system.close()
          await deleteMatching(admin, `*${prefix}*`)
        }
      }
    }
  } finally {
    admin.disconnect()
  }
}
