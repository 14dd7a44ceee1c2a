// The differential test, on one database: a seeded random sequence of steps
// through a cached client, where every read is compared with the same read
// through an uncached client on the same database, values and errors alike.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { expect, test } from 'vitest'
import type { DialectBackend } from '../backends.js'
import { useDialectFixture } from '../dialect-fixture.js'
import {
  type AnyStep,
  type Client,
  type Db,
  oneOfEachKind,
  type ReadStep,
  Rollback,
  type Step,
  seedSteps,
  show,
  stepArbitrary,
} from './model.js'
import { diffSeed, EXPECTED_ERRORS, type Outcome, outcome } from './outcome.js'

/** Enough for writes to meet most cached reads, within ~20 s per database on a shared two-core machine. */
export const STEPS = Number(process.env.ORMCACHE_DIFF_STEPS ?? 2_500)
interface Tally {
  ran: number
  failed: number
  /** Prisma error codes met, for reading the tally. */
  codes: Set<string>
}

export function describeDifferential(label: string, backend: DialectBackend, options: { returning: boolean }) {
  const fixture = useDialectFixture(label, backend)
  const dialect = { quote: backend.quote, returning: options.returning }

  test(`${STEPS} random steps: every read through the cache equals the same read without it`, async () => {
    const seed = diffSeed()
    console.log(`[${label}] seed ${seed} (set ORMCACHE_DIFF_SEED to replay another), ${STEPS} steps`)
    const { prisma } = await fixture.cached()
    // The extension's declared type differs from the plain client's only in the `cache` option the steps don't use.
    const cached = prisma as unknown as Client
    const plain = fixture.base().prisma
    for (const step of seedSteps()) await step.run(cached)
    const steps: AnyStep[] = fc.sample(stepArbitrary(dialect, seed), { seed, numRuns: STEPS }).flat().slice(0, STEPS)
    // Rare kinds may not come up in a sample: one of each goes in at even intervals.
    const everyKind = oneOfEachKind(dialect, seed)
    for (const [index, step] of everyKind.entries()) {
      steps.splice(Math.floor(((index + 1) * STEPS) / (everyKind.length + 1)) + index, 0, step)
    }
    const tally = new Map<string, Tally>()
    const recentReads: ReadStep[] = []
    const started = performance.now()
    let reads = 0
    const readNames = new Set<string>(['reread'])
    let executed = 0
    const timing = { cached: 0, plain: 0, writes: 0 }
    for (const [index, generated] of steps.entries()) {
      const step =
        generated.kind === 'reread' ? recentReads.at(-1 - Math.min(generated.back, recentReads.length - 1)) : generated
      // A reread before any read: nothing to repeat yet.
      if (step === undefined) continue
      executed++
      if (generated.kind === 'read') {
        recentReads.push(generated)
        if (recentReads.length > 6) recentReads.shift()
      }
      const where = () => `step ${index} of seed ${seed}: ${step.label}`
      const before = performance.now()
      const result = await run(step, cached)
      const after = performance.now()
      timing[step.kind === 'read' ? 'cached' : 'writes'] += after - before
      if ('error' in result && !EXPECTED_ERRORS.has(result.error.class)) {
        throw new Error(`${where()} failed with ${show(result.error)}: the step is malformed`)
      }
      if (step.kind === 'read') {
        reads++
        readNames.add(generated.name)
        const direct = await outcome(() => step.run(plain))
        timing.plain += performance.now() - after
        if (!isDeepStrictEqual(result, direct)) {
          // The assertion's diff shows where they differ.
          expect(result, `${where()}: the cached read differs from the database`).toStrictEqual(direct)
          throw new Error(`${where()}: the cached read differs from the database in type: ${show({ result, direct })}`)
        }
      }
      const counts = tally.get(generated.name) ?? { ran: 0, failed: 0, codes: new Set<string>() }
      counts.ran++
      if ('error' in result && result.error.class !== Rollback.name) {
        counts.failed++
        counts.codes.add(String(result.error.code))
      }
      tally.set(generated.name, counts)
    }
    const seconds = (performance.now() - started) / 1000
    const stats = prisma.$cache.stats()
    const hits = stats.l1Hits + stats.l2Hits
    console.log(
      `[${label}] ${executed} steps in ${seconds.toFixed(1)} s: ${reads} reads compared, ` +
        `${hits} served by the cache (${stats.l1Hits} L1, ${stats.l2Hits} L2), ${stats.misses} misses, ` +
        `${stats.staleRejects} stale entries refused; ms in cached reads ${timing.cached.toFixed(0)}, ` +
        `uncached reads ${timing.plain.toFixed(0)}, writes ${timing.writes.toFixed(0)}`,
    )
    console.log(
      `[${label}] steps (ran/failed): ${[...tally].map(([name, { ran, failed, codes }]) => `${name} ${ran}/${failed}${codes.size > 0 ? ` (${[...codes].join(' ')})` : ''}`).join(', ')}`,
    )

    expect(executed).toBeGreaterThanOrEqual(STEPS)
    // Not a run that passes by never caching: a good part of the reads came from the cache.
    expect(hits / reads).toBeGreaterThan(0.25)
    // Every kind of step ran; failures were all ones the database reports (checked per step above),
    // and not so common that the writes did nothing.
    for (const { name } of everyKind) expect(tally.get(name)?.ran ?? 0, `${name} never ran`).toBeGreaterThan(0)
    const writes = [...tally].filter(([name]) => !readNames.has(name)).map(([, counts]) => counts)
    const ran = writes.reduce((sum, counts) => sum + counts.ran, 0)
    const failed = writes.reduce((sum, counts) => sum + counts.failed, 0)
    expect(failed / ran).toBeLessThan(0.8)
    expect(ran - failed).toBeGreaterThan(STEPS / 20)
  }, 120_000)
}

function run(step: Step, client: Client): Promise<Outcome> {
  if (step.kind === 'transaction') return outcome(() => step.run(client))
  return outcome(() => step.run(client as Db))
}
