// Bus delay: from `invalidate()` in one process to the message's arrival in
// another, over the Redis at REDIS_URL (default 127.0.0.1:6379). Prints p50/p99.
// The receiving process stamps arrival with the shared wall clock of one machine.
import { fork } from 'node:child_process'
import { subscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { createCache } from '../dist/esm/src/index.js'

const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = process.argv[3] ?? `bench-bus-${process.pid}`
const rounds = Number(process.env.ROUNDS ?? 1000)

if (process.argv[2] === 'receiver') {
  const cache = createCache({ redis, prefix })
  subscribe('ormcache:invalidate', (message) => {
    if (message.origin === 'remote' && message.prefix === process.argv[3]) {
      process.send({ tag: message.tags[0], at: performance.timeOrigin + performance.now() })
    }
  })
  while (cache.stats().bus !== 'live') await new Promise((resolve) => setTimeout(resolve, 5))
  process.send('ready')
} else {
  const receiver = fork(fileURLToPath(import.meta.url), ['receiver', prefix])
  await once(receiver, 'message')
  const sender = createCache({ redis, prefix })
  while (sender.stats().bus !== 'live') await new Promise((resolve) => setTimeout(resolve, 5))
  const delays = []
  for (let i = 0; i < rounds; i++) {
    const arrived = once(receiver, 'message')
    const sentAt = performance.timeOrigin + performance.now()
    await sender.invalidate([`t${i}`])
    const [{ at }] = await arrived
    delays.push((at - sentAt) * 1000)
  }
  delays.sort((a, b) => a - b)
  const at = (q) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))].toFixed(0)
  console.log(`bus delay over ${rounds} invalidations: p50 ${at(0.5)} µs, p99 ${at(0.99)} µs, max ${at(1)} µs`)
  await sender.close()
  receiver.kill()
}
