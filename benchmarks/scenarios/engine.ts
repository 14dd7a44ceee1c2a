import { Redis } from 'ioredis'
import { Packr } from 'msgpackr'
import { createCache } from '../../src/index.js'
import type { Run } from '../harness.js'
import { deleteMatching } from './reads.js'

/**
 * The engine alone, under the ORMs: hits and misses of one row and of a
 * 20-row list with children, each next to its floor — a bare `Map` lookup for
 * L1, a raw ioredis GET plus msgpackr unpack of the same bytes for L2, and the
 * loader alone for a miss.
 */
export async function engineScenario(run: Run, redisUrl: string | undefined): Promise<void> {
  const values = {
    'one row': user(1),
    '20 rows with children': Array.from({ length: 20 }, (_, i) => ({ ...user(i), posts: [post(i, 1), post(i, 2)] })),
  }
  for (const [label, value] of Object.entries(values)) {
    const scenario = `engine, ${label}`
    const map = new Map([['k', value]])
    await run.measure(scenario, 'Map.get (floor)', async () => map.get('k'))
    const memory = createCache({ prefix: `bench-${process.pid}` })
    await memory.getOrLoad('k', ['T'], () => value)
    await run.measure(scenario, 'ormcache L1 hit', () => memory.getOrLoad('k', ['T'], () => value), {
      floor: 'Map.get (floor)',
    })
    await memory.close()
    if (redisUrl === undefined) continue

    const prefix = `bench-${process.pid}-${label.replace(/\W+/g, '-')}`
    const raw = new Redis(redisUrl)
    const packr = new Packr({ useRecords: false })
    await raw.set(`${prefix}:raw`, packr.pack(value))
    await run.measure(scenario, 'ioredis GET + unpack (floor)', async () =>
      packr.unpack((await raw.getBuffer(`${prefix}:raw`)) ?? Buffer.alloc(0)),
    )
    const shared = createCache({ redis: redisUrl, prefix, l1: false })
    await shared.getOrLoad('k', ['T'], () => value)
    await waitFor(async () => (await raw.exists(`${prefix}:e:k`)) === 1)
    await run.measure(scenario, 'ormcache L2 hit', () => shared.getOrLoad('k', ['T'], () => value), {
      floor: 'ioredis GET + unpack (floor)',
    })
    const loader = async () => value
    await run.measure(scenario, 'loader alone (floor)', loader)
    let miss = 0
    await run.measure(
      scenario,
      'ormcache miss (load + store)',
      () => shared.getOrLoad(`miss:${miss++}`, ['T'], loader),
      {
        floor: 'loader alone (floor)',
      },
    )
    await shared.close()
    await deleteMatching(raw, `${prefix}*`)
    await deleteMatching(raw, `{${prefix}}*`)
    raw.disconnect()
  }
}

function user(id: number) {
  return {
    id,
    email: `user${id}@example.com`,
    name: `User ${id}`,
    createdAt: new Date(1_700_000_000_000 + id),
    balance: BigInt(id) * 1_000_000_007n,
    active: id % 2 === 0,
  }
}

function post(userId: number, index: number) {
  return { id: userId * 100 + index, authorId: userId, title: `Post ${index}`, body: 'x'.repeat(200) }
}

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (let pause = 1; !(await condition()); pause = Math.min(pause * 2, 50)) {
    await new Promise((resolve) => setTimeout(resolve, pause))
  }
}
