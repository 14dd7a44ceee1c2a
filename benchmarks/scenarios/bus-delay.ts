import { subscribe } from 'node:diagnostics_channel'
import { fileURLToPath } from 'node:url'
import { createCache } from '../../src/index.js'
import { forkWatched, until } from '../../test/fixtures/wait.js'
import type { Run } from '../harness.js'

/** A connection and a SUBSCRIBE, on a loaded machine. */
const LIVE_MS = 20_000
/** The receiver's start: a Node process, then its own wait of LIVE_MS at most. */
const RECEIVER_READY_MS = LIVE_MS + 10_000
/** A message takes well under a millisecond; one that has not come in this long is lost. */
const ARRIVAL_MS = 10_000

/**
 * The bus delay: from `invalidate()` in one process to the message's arrival
 * in another, which stamps arrival on the machine's shared wall clock. This
 * is the window in which another instance's L1 may still serve a replaced value.
 */
export async function busDelayScenario(run: Run, redisUrl: string): Promise<void> {
  const prefix = `bench-bus-${process.pid}`
  const receiver = forkWatched('the bus-delay receiver', fileURLToPath(import.meta.url), ['receiver', redisUrl, prefix])
  try {
    await receiver.nextMessage(`${receiver.name} to be ready`, RECEIVER_READY_MS)
    const sender = createCache({ redis: redisUrl, prefix })
    await until(() => sender.stats().bus === 'live', "the sender's bus to be live", LIVE_MS)
    const rounds = run.quick ? 200 : 2_000
    const delays: number[] = []
    for (let i = 0; i < rounds; i++) {
      const sentAt = performance.timeOrigin + performance.now()
      await sender.invalidate({ tags: [`t${i}`] })
      const { at } = await receiver.nextMessage<{ at: number }>(
        `invalidation ${i} to reach ${receiver.name}`,
        ARRIVAL_MS,
      )
      delays.push((at - sentAt) * 1_000)
    }
    run.record('invalidation bus', 'invalidate() to arrival in another process', delays)
    await sender.close()
  } finally {
    receiver.process.kill()
  }
}

if (process.argv[2] === 'receiver') {
  const [, , , redisUrl, prefix] = process.argv
  const cache = createCache({ redis: redisUrl, prefix })
  subscribe('ormcache:invalidate', (message) => {
    const { origin } = message as { origin: string }
    if (origin === 'remote') process.send?.({ at: performance.timeOrigin + performance.now() })
  })
  await until(() => cache.stats().bus === 'live', "the receiver's bus to be live", LIVE_MS)
  // The cache holds no process open: listening to the parent keeps this one up until it is killed.
  process.on('message', () => {})
  process.send?.('ready')
}
