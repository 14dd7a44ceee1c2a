import {
  bentoCache,
  cacheable,
  noopExtension,
  ormcache,
  prismaExtensionRedis,
  uncached,
} from '../fixtures/prisma-systems.js'
import type { ReadsScenario } from './reads.js'

/** Prisma reads: ours and the caches a Prisma user would otherwise pick. */
export const prismaReads: ReadsScenario = {
  orm: 'prisma',
  uncached,
  inOrmFloor: noopExtension,
  systems: [
    { factory: ormcache(true), hit: 'memory' },
    { factory: ormcache(false), hit: 'redis' },
    { factory: prismaExtensionRedis, hit: 'redis' },
    { factory: bentoCache(true), hit: 'memory' },
    { factory: bentoCache(false), hit: 'redis' },
    { factory: cacheable(true), hit: 'memory' },
    { factory: cacheable(false), hit: 'redis' },
  ],
}
