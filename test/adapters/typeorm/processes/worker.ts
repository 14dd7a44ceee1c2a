// One app instance in its own process for the two-process TypeORM test: a
// cached DataSource under test and an uncached one on the same schema, driven
// by the parent over IPC. Runs the TypeScript sources (test/fixtures/typescript-hooks.mjs).
import { subscribe } from 'node:diagnostics_channel'
import { inspect, isDeepStrictEqual } from 'node:util'
import { DataSource } from 'typeorm'
import { cacheOf, withCache } from '../../../../adapters/typeorm/index.js'
import { Changes, until } from '../../../fixtures/wait.js'
import { entitySchemas } from '../entities.js'
import { type ReadOp, runRead, runWrite, type WriteOp } from './operations.js'

export interface WorkerConfig {
  readonly postgresUrl: string
  readonly schema: string
  readonly redisUrl: string
  readonly prefix: string
}

export type WorkerRequest =
  | { readonly type: 'write'; readonly op: WriteOp }
  | { readonly type: 'read'; readonly op: ReadOp }
  /**
   * Resolves once invalidations from other instances have covered each of
   * `tagSets` in turn (`null`: everything), counting only those that arrived
   * after the ones matched by earlier requests; or once the bus resubscribed
   * after `since` (a hrtime in ns), which drops all of L1 as a lost message demands.
   */
  | { readonly type: 'await-remote'; readonly tagSets: readonly TagSet[]; readonly since: string }
  /** The cache's counters and its latest invalidations, for a failure message. */
  | { readonly type: 'diagnose' }
  | { readonly type: 'stop' }

/** The tags of one invalidation; `null` for everything. */
export type TagSet = readonly string[] | null

export type WorkerReply =
  | { readonly type: 'ready' }
  /** `returnedAt`: `process.hrtime` (one clock for every process of the machine), in ns. */
  | {
      readonly type: 'wrote'
      readonly error?: string
      readonly startedAt: string
      readonly returnedAt: string
      /** What this instance invalidated during the write. */
      readonly invalidated: readonly TagSet[]
    }
  | { readonly type: 'read'; readonly equal: true }
  | { readonly type: 'read'; readonly equal: false; readonly cached: string; readonly expected: string }
  | { readonly type: 'caught-up'; readonly receivedAt: string }
  | { readonly type: 'diagnosis'; readonly text: string }
  | { readonly type: 'failed'; readonly error: string }
  | {
      readonly type: 'stopped'
      readonly stats: {
        readonly l1Hits: number
        readonly l2Hits: number
        readonly loads: number
        readonly redisErrors: number
      }
    }

/** How long `await-remote` waits for all its invalidations: the bus delivers one in milliseconds. */
const REMOTE_WAIT_MS = 10_000
/** How long the bus subscription may take to be live: a connection and a SUBSCRIBE, on a loaded machine. */
const BUS_LIVE_MS = 20_000

const config = JSON.parse(process.argv[2] ?? '') as WorkerConfig
const options = {
  type: 'postgres',
  url: config.postgresUrl,
  schema: config.schema,
  entities: entitySchemas('postgres'),
} as const
const cached = new DataSource(withCache(options, { redis: config.redisUrl, prefix: config.prefix, timeout: '3s' }))
const plain = new DataSource(options)

interface Invalidation {
  readonly at: bigint
  readonly tags: TagSet
}
const local: Invalidation[] = []
const remote: Invalidation[] = []
/** How far `await-remote` requests have matched `remote`. */
let remoteCursor = 0
const resubscriptions: bigint[] = []
/** Told of each arrival and each resubscription. */
const remoteChanges = new Changes()
subscribe('ormcache:bus', (message) => {
  const { prefix, state } = message as { prefix: string; state: 'live' | 'down' }
  if (prefix !== config.prefix || state !== 'live') return
  resubscriptions.push(process.hrtime.bigint())
  remoteChanges.changed()
})
subscribe('ormcache:invalidate', (message) => {
  const { prefix, origin, tags } = message as { prefix: string; origin: 'local' | 'remote'; tags?: string[] }
  if (prefix !== config.prefix) return
  const invalidation = { at: process.hrtime.bigint(), tags: tags ?? null }
  if (origin === 'local') {
    local.push(invalidation)
    return
  }
  remote.push(invalidation)
  remoteChanges.changed()
})

function send(reply: WorkerReply): void {
  process.send!(reply)
}

/** A replayed or merged invalidation may carry more tags than the one it stands for. */
function covers(received: TagSet, wanted: TagSet): boolean {
  if (received === null) return true
  if (wanted === null) return false
  return wanted.every((tag) => received.includes(tag))
}

/**
 * When an invalidation received since the last match, and after `since`, covered `wanted`; or when
 * the bus resubscribed after `since`. Undefined when neither has happened yet.
 */
function arrivalCovering(wanted: TagSet, since: bigint): bigint | undefined {
  while (remoteCursor < remote.length) {
    const received = remote[remoteCursor++]!
    // process.hrtime is CLOCK_MONOTONIC, one clock for every process of the machine.
    if (received.at > since && covers(received.tags, wanted)) return received.at
  }
  return resubscriptions.find((at) => at > since)
}

function describe(invalidations: readonly Invalidation[]): string {
  return JSON.stringify(invalidations.map(({ tags }) => tags))
}

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.type) {
    case 'write': {
      const before = local.length
      const startedAt = process.hrtime.bigint().toString()
      let error: string | undefined
      try {
        await runWrite(cached, request.op, config.schema)
      } catch (caught) {
        error = caught instanceof Error ? caught.message : String(caught)
      }
      const returnedAt = process.hrtime.bigint().toString()
      const invalidated = local.slice(before).map(({ tags }) => tags)
      return error === undefined
        ? { type: 'wrote', startedAt, returnedAt, invalidated }
        : { type: 'wrote', error, startedAt, returnedAt, invalidated }
    }
    case 'read': {
      const got = await runRead(cached, request.op)
      const expected = await runRead(plain, request.op)
      // isDeepStrictEqual compares prototypes too: entity classes, Date, Buffer.
      if (isDeepStrictEqual(got, expected)) return { type: 'read', equal: true }
      return {
        type: 'read',
        equal: false,
        cached: inspect(got, { depth: 6 }),
        expected: inspect(expected, { depth: 6 }),
      }
    }
    case 'await-remote': {
      const { tagSets } = request
      const since = BigInt(request.since)
      let matched = 0
      let receivedAt = 0n
      // One deadline for them all: a stream of other invalidations that never covers a tag set must not extend it.
      await remoteChanges.until(
        () => {
          for (; matched < tagSets.length; matched++) {
            const at = arrivalCovering(tagSets[matched]!, since)
            if (at === undefined) return false
            receivedAt = at
          }
          return true
        },
        () =>
          `an invalidation covering ${JSON.stringify(tagSets[matched])} (tag set ${matched + 1} of ${tagSets.length}) ` +
          `or a resubscription; last received: ${describe(remote.slice(-5))}, ${resubscriptions.length} bus (re)subscriptions`,
        REMOTE_WAIT_MS,
      )
      return { type: 'caught-up', receivedAt: receivedAt.toString() }
    }
    case 'diagnose':
      return {
        type: 'diagnosis',
        text:
          `stats ${JSON.stringify(cacheOf(cached).stats())}; last local invalidations ${describe(local.slice(-4))}; ` +
          `last remote ${describe(remote.slice(-4))} (matched up to ${remoteCursor} of ${remote.length}); ` +
          `${resubscriptions.length} bus (re)subscriptions`,
      }
    case 'stop': {
      const { l1Hits, l2Hits, loads, redisErrors } = cacheOf(cached).stats()
      await Promise.all([cached.destroy(), plain.destroy()])
      return { type: 'stopped', stats: { l1Hits, l2Hits, loads, redisErrors } }
    }
  }
}

await Promise.all([cached.initialize(), plain.initialize()])
// Until its bus subscription is live, the engine does not trust its L1: wait so every read exercises it.
await until(
  () => cacheOf(cached).stats().bus === 'live' && cacheOf(cached).stats().redis === 'up',
  'the bus subscription to be live and Redis up',
  BUS_LIVE_MS,
)
// One request at a time: the parent waits for each reply.
process.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (reply) => {
      send(reply)
      if (reply.type === 'stopped') process.disconnect()
    },
    (error: unknown) => send({ type: 'failed', error: inspect(error) }),
  )
})
send({ type: 'ready' })
