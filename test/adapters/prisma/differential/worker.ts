// One app instance of the two-process differential test, in a process of its
// own (run through test/fixtures/typescript-hooks.mjs, which loads the TypeScript): a
// cached client and an uncached one on the shared PostgreSQL schema, its cache
// on the shared Redis prefix. It makes the same steps from the same seed as
// the parent, which tells it by index which to run.
import { subscribe } from 'node:diagnostics_channel'
import { isDeepStrictEqual } from 'node:util'
import { PrismaPg } from '@prisma/adapter-pg'
import fc from 'fast-check'
import { prismaCache } from '../../../../adapters/prisma/index.js'
import { Changes, until } from '../../../fixtures/wait.js'
import { postgresPool } from '../backends.js'
import type { RelationClient } from '../dialect-fixture.js'
import { PrismaClient } from '../generated/client.js'
import { type AnyStep, type Client, type Db, seedSteps, show, stepArbitrary } from './model.js'
import { EXPECTED_ERRORS, outcome } from './outcome.js'

export interface WorkerConfig {
  readonly redis: string
  readonly prefix: string
  readonly postgres: { readonly url: string; readonly schema: string }
  readonly seed: number
  readonly steps: number
}

export type WorkerRequest =
  | { readonly type: 'seed' }
  | { readonly type: 'run'; readonly index: number }
  /** Resolves once `count` invalidations from the other instance have arrived. */
  | { readonly type: 'await'; readonly count: number }
  | { readonly type: 'stats' }

export interface WorkerReply {
  /** Set when the step read: whether the cached read equalled the uncached one, and both when not. */
  readonly difference?: string
  /** A write failed in a way no step should (a malformed step). */
  readonly unexpected?: string
  readonly failed?: boolean
  /** When the step returned, in ms since the epoch (both processes share the clock). */
  readonly returnedAt: number
  /** Invalidations this instance has published so far, and when the last one was. */
  readonly published: number
  readonly lastPublishedAt: number
  /** When each invalidation from the other instance arrived, in ms since the epoch. */
  readonly arrivals: readonly number[]
  readonly stats?: unknown
}

/** How long `await` waits for the other instance's invalidations: the bus delivers them in milliseconds. */
const BUS_WAIT_MS = 5_000
/** How long the bus subscription may take to be live: a connection and a SUBSCRIBE, on a loaded machine. */
const BUS_LIVE_MS = 20_000

const config = JSON.parse(process.argv[2]!) as WorkerConfig
const now = () => performance.timeOrigin + performance.now()
let published = 0
let lastPublishedAt = 0
const arrivals: number[] = []
const arrivalChanges = new Changes()
subscribe('ormcache:invalidate', (message) => {
  const { prefix, origin } = message as { prefix: string; origin: string }
  if (prefix !== config.prefix) return
  if (origin === 'remote') {
    arrivals.push(now())
    arrivalChanges.changed()
    return
  }
  published++
  lastPublishedAt = now()
})

const pool = postgresPool(config.postgres.url, config.postgres.schema)
const client = (adapter: PrismaPg) => new PrismaClient({ adapter }) as unknown as RelationClient
const plain = client(new PrismaPg(pool, { schema: config.postgres.schema }))
const extended = client(new PrismaPg(pool, { schema: config.postgres.schema })).$extends(
  prismaCache({ redis: config.redis, prefix: config.prefix, timeout: '3s' }),
)
const cached = extended as unknown as Client
const dialect = { quote: (identifier: string) => `"${identifier}"`, returning: true }
const steps: AnyStep[] = fc
  .sample(stepArbitrary(dialect, config.seed), { seed: config.seed, numRuns: config.steps })
  .flat()
  .slice(0, config.steps)

async function handle(
  request: WorkerRequest,
): Promise<Omit<WorkerReply, 'returnedAt' | 'published' | 'lastPublishedAt' | 'arrivals'>> {
  switch (request.type) {
    case 'seed':
      for (const step of seedSteps()) await step.run(cached)
      return {}
    case 'stats':
      return { stats: extended.$cache.stats() }
    case 'await':
      await arrivalChanges.until(
        () => arrivals.length >= request.count,
        () => `${request.count} invalidations from the other instance (${arrivals.length} arrived)`,
        BUS_WAIT_MS,
      )
      return {}
    case 'run': {
      const step = steps[request.index]
      if (step === undefined || step.kind === 'reread') throw new Error(`no step ${request.index} to run`)
      let thrown: unknown
      const capture = (error: unknown) => {
        thrown = error
        throw error
      }
      const result =
        step.kind === 'transaction'
          ? await outcome(() => step.run(cached).catch(capture))
          : await outcome(() => step.run(cached as Db).catch(capture))
      const failed = 'error' in result
      const unexpected =
        failed && !EXPECTED_ERRORS.has(result.error.class) ? `${step.label}: ${String(thrown)}` : undefined
      if (step.kind !== 'read') return { failed, ...(unexpected && { unexpected }) }
      const direct = await outcome(() => step.run(plain))
      if (isDeepStrictEqual(result, direct)) return { failed, ...(unexpected && { unexpected }) }
      return { failed, difference: show({ cached: result, database: direct }) }
    }
  }
}

await until(() => extended.$cache.stats().bus === 'live', 'the bus subscription to be live', BUS_LIVE_MS)

process.on('message', (request: WorkerRequest | 'close') => {
  if (request === 'close') {
    void Promise.all([extended.$disconnect(), plain.$disconnect()])
      .then(() => pool.end())
      .then(() => process.disconnect())
    return
  }
  void handle(request).then(
    (reply) => process.send!({ ...reply, returnedAt: now(), published, lastPublishedAt, arrivals }),
    (error: unknown) =>
      process.send!({ unexpected: show(error), returnedAt: now(), published, lastPublishedAt, arrivals }),
  )
})
process.send!({ ready: true })
