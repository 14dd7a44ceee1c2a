import { fork } from 'node:child_process'
import { subscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { createCache } from '../../src/index.js'
import type { Run } from '../harness.js'

/**
 * The bus delay: from `invalidate()` in one process to the message's arrival
 * in another, which stamps arrival on the machine's shared wall clock. This
 * is the window in which another instance's L1 may still serve a replaced value.
 */
export async function busDelayScenario(run: Run, redisUrl: string): Promise<void> {
  const prefix = `bench-bus-${process.pid}`
  const receiver = fork(fileURLToPath(import.meta.url), ['receiver', redisUrl, prefix])
  try {
    await once(receiver, 'message')
    const sender = createCache({ redis: redisUrl, prefix })
    while (sender.stats().bus !== 'live') await new Promise((resolve) => setTimeout(resolve, 5))
    const rounds = run.quick ? 200 : 2_000
    const delays: number[] = []
    for (let i = 0; i < rounds; i++) {
      const arrived = once(receiver, 'message')
      const sentAt = performance.timeOrigin + performance.now()
      await sender.invalidate({ tags: [`t${i}`] })
      const [{ at }] = (await arrived) as [{ at: number }]
      delays.push((at - sentAt) * 1_000)
    }
    run.record('invalidation bus', 'invalidate() to arrival in another process', delays)
    await sender.close()
  } finally {
    receiver.kill()
  }
}

if (process.argv[2] === 'receiver') {
  const [, , , redisUrl, prefix] = process.argv
  const cache = createCache({ redis: redisUrl, prefix })
  subscribe('ormcache:invalidate', (message) => {
    const { origin } = message as { origin: string }
    if (origin === 'remote') process.send?.({ at: performance.timeOrigin + performance.now() })
  })
  while (cache.stats().bus !== 'live') await new Promise((resolve) => setTimeout(resolve, 5))
  process.send?.('ready')
}
