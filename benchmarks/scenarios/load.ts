import { type DatabaseKind, openDatabase } from '../fixtures/database.js'
import { PROCESSES, runWorkers } from '../fixtures/workers.js'
import { analyseLoad, type LoadGo, type LoadOrm, type LoadReport, type LoadSample } from './load-report.js'

/**
 * The load run (issue 8 §4): the mixed scenario's workload on ormcache only,
 * held for minutes — two Prisma and two TypeORM processes, one table set, a
 * small L1 budget so L1 evicts throughout — sampled every second for memory,
 * cache stats and latency, with every read checked for staleness.
 */
export interface LoadOptions {
  redisUrl: string
  /** Key prefix of the run's own; the caller deletes its keys afterwards. */
  prefix: string
  durationMs?: number
  /** Per process. Small enough that the hot rows alone overflow it. */
  l1MaxBytes?: number
  /** Zipf keys per ORM; each ORM has its own rows. */
  keys?: number
  database?: DatabaseKind
  /** Node options of the workers: --expose-gc (for a stable heap figure) and, from the sources, the TypeScript hooks. */
  execArgv?: readonly string[]
  windowMs?: number
}

export const LOAD_DEFAULTS = {
  durationMs: 120_000,
  l1MaxBytes: 128 * 1024,
  keys: 1_000,
  database: 'postgres',
  windowMs: 10_000,
} as const

const SAMPLE_EVERY_MS = 1_000

/** Prisma and TypeORM processes alternate, so both ORMs run together in one run against the same Redis. */
export const LOAD_ORMS: readonly LoadOrm[] = Array.from({ length: PROCESSES }, (_, index) =>
  index % 2 === 0 ? 'prisma' : 'typeorm',
)

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const { durationMs, l1MaxBytes, keys, database: kind, windowMs } = { ...LOAD_DEFAULTS, ...options }
  const execArgv = options.execArgv ?? ['--expose-gc']
  const database = await openDatabase(kind, 2 * keys)
  const samples: LoadSample[][] = LOAD_ORMS.map(() => [])
  try {
    const go: LoadGo = { durationMs, keys, sampleEveryMs: SAMPLE_EVERY_MS }
    const outcomes = await runWorkers<{ failures: number; errors: string[] }>(
      'load-worker',
      { database, cache: (index) => LOAD_ORMS[index] ?? 'prisma', redisUrl: options.redisUrl, prefix: options.prefix },
      go,
      (index) => [LOAD_ORMS[index] ?? 'prisma', String(2_000 + index), String(l1MaxBytes), String(keys)],
      { execArgv, onProgress: (index, sample) => samples[index]?.push(sample as LoadSample), workMs: durationMs },
    )
    return analyseLoad(
      { durationMs, l1MaxBytes, windowMs, gcBeforeSamples: execArgv.includes('--expose-gc') },
      LOAD_ORMS,
      samples,
      outcomes,
    )
  } finally {
    await database.close()
  }
}
