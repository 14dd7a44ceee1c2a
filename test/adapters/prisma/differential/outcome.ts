// What the differential tests compare: a step's outcome, value or error, and the seed of a run.
import { Rollback } from './model.js'

const DEFAULT_SEED = 20_261_201

/** The run's seed: fixed, so a run replays; `ORMCACHE_DIFF_SEED` picks another. */
export function diffSeed(): number {
  const seed = Number(process.env.ORMCACHE_DIFF_SEED ?? DEFAULT_SEED)
  if (!Number.isSafeInteger(seed))
    throw new Error(`ORMCACHE_DIFF_SEED is not an integer: ${process.env.ORMCACHE_DIFF_SEED}`)
  return seed
}

/** A value, or the error in the form two clients must agree on: its class and Prisma's code (messages may differ). */
export type Outcome =
  | { readonly value: unknown }
  | { readonly error: { readonly class: string; readonly code?: unknown } }

export async function outcome(action: () => PromiseLike<unknown>): Promise<Outcome> {
  try {
    return { value: await action() }
  } catch (error) {
    if (!(error instanceof Error)) throw error
    const code = (error as { code?: unknown }).code
    return { error: { class: error.constructor.name, ...(code !== undefined && { code }) } }
  }
}

/** Errors a step may meet by design: constraint violations, missing rows, a rollback. Anything else is a bug in the step. */
export const EXPECTED_ERRORS = new Set(['PrismaClientKnownRequestError', Rollback.name])
