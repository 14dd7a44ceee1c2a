// One app instance in its own process for the two-process TypeORM test: a
// cached DataSource under test and an uncached one on the same schema, driven
// by the parent over IPC. Runs the TypeScript sources (typescript-hooks.mjs).
import { subscribe } from 'node:diagnostics_channel'
import { inspect, isDeepStrictEqual } from 'node:util'
import { DataSource } from 'typeorm'
import { cacheOf, withCache } from '../../../../adapters/typeorm/index.js'
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
  /** Resolves once `count` invalidations from other instances have arrived in all. */
  | { readonly type: 'await-remote'; readonly count: number }
  | { readonly type: 'stop' }

export type WorkerReply =
  | { readonly type: 'ready' }
  /** `returnedAt`: `process.hrtime` (one clock for every process of the machine), in ns. */
  | {
      readonly type: 'wrote'
      readonly error?: string
      readonly returnedAt: string
      readonly localInvalidations: number
    }
  | { readonly type: 'read'; readonly equal: true }
  | { readonly type: 'read'; readonly equal: false; readonly cached: string; readonly expected: string }
  | { readonly type: 'caught-up'; readonly receivedAt: string }
  | { readonly type: 'failed'; readonly error: string }
  | {
      readonly type: 'stopped'
      readonly stats: { readonly l1Hits: number; readonly l2Hits: number; readonly loads: number }
    }

const REMOTE_WAIT_MS = 10_000

const config = JSON.parse(process.argv[2] ?? '') as WorkerConfig
const options = {
  type: 'postgres',
  url: config.postgresUrl,
  schema: config.schema,
  entities: entitySchemas('postgres'),
} as const
const cached = new DataSource(withCache(options, { redis: config.redisUrl, prefix: config.prefix, timeout: '3s' }))
const plain = new DataSource(options)

let localInvalidations = 0
const remoteArrivals: bigint[] = []
const remoteWaiters = new Set<() => void>()
subscribe('ormcache:invalidate', (message) => {
  const { prefix, origin } = message as { prefix: string; origin: 'local' | 'remote' }
  if (prefix !== config.prefix) return
  if (origin === 'local') {
    localInvalidations++
    return
  }
  remoteArrivals.push(process.hrtime.bigint())
  for (const wake of remoteWaiters) wake()
})

function send(reply: WorkerReply): void {
  process.send!(reply)
}

async function remoteArrival(count: number): Promise<bigint> {
  const deadline = Date.now() + REMOTE_WAIT_MS
  while (remoteArrivals.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${remoteArrivals.length} of ${count} invalidations arrived`)
    await new Promise<void>((resolve) => {
      const wake = () => {
        remoteWaiters.delete(wake)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(wake, deadline - Date.now())
      remoteWaiters.add(wake)
    })
  }
  return remoteArrivals[count - 1]!
}

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.type) {
    case 'write': {
      let error: string | undefined
      try {
        await runWrite(cached, request.op, config.schema)
      } catch (caught) {
        error = caught instanceof Error ? caught.message : String(caught)
      }
      const returnedAt = process.hrtime.bigint().toString()
      return error === undefined
        ? { type: 'wrote', returnedAt, localInvalidations }
        : { type: 'wrote', error, returnedAt, localInvalidations }
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
    case 'await-remote':
      return { type: 'caught-up', receivedAt: (await remoteArrival(request.count)).toString() }
    case 'stop': {
      const { l1Hits, l2Hits, loads } = cacheOf(cached).stats()
      await Promise.all([cached.destroy(), plain.destroy()])
      return { type: 'stopped', stats: { l1Hits, l2Hits, loads } }
    }
  }
}

await Promise.all([cached.initialize(), plain.initialize()])
// Until its bus subscription is live, the engine does not trust its L1: wait so every read exercises it.
while (cacheOf(cached).stats().bus !== 'live' || cacheOf(cached).stats().redis !== 'up') {
  await new Promise((resolve) => setTimeout(resolve, 5))
}
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
