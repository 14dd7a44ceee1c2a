import { typeormBuiltIn, typeormOrmcache, typeormUncached } from '../fixtures/typeorm-systems.js'
import type { ReadsScenario } from './reads.js'

/** TypeORM reads: ours and TypeORM's own Redis query cache. */
export const typeormReads: ReadsScenario = {
  orm: 'typeorm',
  uncached: typeormUncached,
  systems: [
    { factory: typeormOrmcache(true), hit: 'memory' },
    { factory: typeormOrmcache(false), hit: 'redis' },
    { factory: typeormBuiltIn, hit: 'redis' },
  ],
}
