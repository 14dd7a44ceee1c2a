// Several extended clients on one Redis, as several app processes would be,
// and the lifecycle of the cache's Redis connections.
import { connect } from 'node:net'
import type { Redis } from 'ioredis'
import { describe, expect, test } from 'vitest'
import { until } from '../../fixtures/wait.js'
import { redisUrl } from '../../helpers/services.js'
import { cacheConnected, usePrismaFixture } from './fixture.js'

const fixture = usePrismaFixture('prisma-clients')

interface SeenCommand {
  readonly args: readonly string[]
  readonly source: string
}

/**
 * What Redis itself saw, through MONITOR on a connection of its own: the
 * commands of one named client's connections (its command connection and its
 * bus subscriber), between two ECHO markers sent after each other, so nothing
 * another test sends to the shared Redis is counted.
 */
async function watchRedis(admin: Redis) {
  // A bare socket, not ioredis's `monitor()`: closing that one mid-stream makes ioredis
  // parse the rest of the stream as replies and throw.
  const url = new URL(await redisUrl())
  const monitor = connect(Number(url.port || 6379), url.hostname)
  monitor.on('error', () => {})
  const seen: SeenCommand[] = []
  let pending = ''
  monitor.setEncoding('utf8')
  monitor.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\r\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      // +1700000000.123456 [0 127.0.0.1:50000] "evalsha" "…" …
      const source = /^\+\S+ \[\d+ ([^\]]+)\]/.exec(line)?.[1]
      // Commands a Lua script runs are that script's, already counted once.
      if (source === undefined || source === 'lua') continue
      const args = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1] ?? '')
      seen.push({ args: [args[0]?.toLowerCase() ?? '', ...args.slice(1)], source })
    }
  })
  monitor.write('MONITOR\r\n')
  let markers = 0
  const mark = async () => {
    const marker = `${fixture.prefix}-marker-${++markers}`
    await admin.echo(marker)
    await until(() => seen.some(({ args }) => args[0] === 'echo' && args[1] === marker), 'MONITOR to show a marker')
    return seen.findIndex(({ args }) => args[0] === 'echo' && args[1] === marker)
  }
  const addressesOf = async (connectionName: string) =>
    ((await admin.client('LIST')) as string)
      .split('\n')
      .filter((line) => line.includes(` name=${connectionName} `))
      .map((line) => /\baddr=(\S+)/.exec(line)?.[1])
  return {
    seen,
    addressesOf,
    /** The commands `connectionName`'s connections sent while `action` ran, the bus heartbeat left out. */
    async commandsDuring(connectionName: string, action: () => Promise<unknown>): Promise<string[][]> {
      const addresses = await addressesOf(connectionName)
      const begin = await mark()
      await action()
      const end = await mark()
      return (
        seen
          .slice(begin + 1, end)
          .filter(({ source }) => addresses.includes(source))
          // The heartbeat is a timer of the bus, once a second, whatever the reads do.
          .filter(({ args }) => !(args[0] === 'publish' && args[1]?.includes(':heartbeat:')))
          .map(({ args }) => [...args])
      )
    },
    close: () => monitor.destroy(),
  }
}

describe('clients sharing Redis', () => {
  test('a result cached by one client is a hit for another through Redis', async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached({ l1: false })
    const user = await writer.prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
    const loaded = await writer.prisma.user.findUnique({ where: { id: user.id }, include: { posts: true } })
    await fixture.entriesInRedis(1)

    const read = () => reader.prisma.user.findUnique({ where: { id: user.id }, include: { posts: true } })
    expect(await reader.queries.during(async () => expect(await read()).toStrictEqual(loaded))).toBe(0)
    expect(reader.prisma.$cache.stats()).toMatchObject({ l2Hits: 1, loads: 0 })
  })

  test("a client without L1 sees another client's write on its next read", async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached({ l1: false })
    const one = await writer.prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
    const two = await writer.prisma.user.create({ data: { email: 'two@x.test', name: 'Two' } })
    const readOne = () => reader.prisma.user.findUnique({ where: { id: one.id } })
    const readTwo = () => reader.prisma.user.findUnique({ where: { id: two.id } })
    const readAll = () => reader.prisma.user.findMany({ orderBy: { id: 'asc' } })
    await readOne()
    await readTwo()
    await readAll()
    await fixture.entriesInRedis(3)
    expect(await reader.queries.during(() => Promise.all([readOne(), readTwo(), readAll()]))).toBe(0)

    await writer.prisma.user.update({ where: { id: one.id }, data: { name: 'Uno' } })

    expect(await reader.queries.during(async () => expect(await readOne()).toMatchObject({ name: 'Uno' }))).toBe(1)
    expect(await reader.queries.during(async () => expect(await readAll()).toMatchObject([{ name: 'Uno' }, {}]))).toBe(
      1,
    )
    // The other row's entry in Redis is still valid.
    expect(await reader.queries.during(readTwo)).toBe(0)
  })

  test('a write in a transaction reaches the other client only once committed', async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached({ l1: false })
    const user = await writer.prisma.user.create({ data: { email: 'one@x.test', name: 'before' } })
    const read = () => reader.prisma.user.findUnique({ where: { id: user.id } })
    await read()
    await fixture.entriesInRedis(1)

    await writer.prisma.$transaction(async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { name: 'after' } })
      expect(await reader.queries.during(read)).toBe(0)
    })
    expect(await reader.queries.during(async () => expect(await read()).toMatchObject({ name: 'after' }))).toBe(1)
  })

  test("a client with L1 drops another client's written rows when the bus message arrives", async () => {
    const writer = await fixture.cached()
    const reader = await fixture.cached()
    const one = await writer.prisma.user.create({ data: { email: 'one@x.test', name: 'One' } })
    const two = await writer.prisma.user.create({ data: { email: 'two@x.test', name: 'Two' } })
    const readOne = () => reader.prisma.user.findUnique({ where: { id: one.id } })
    const readTwo = () => reader.prisma.user.findUnique({ where: { id: two.id } })
    await readOne()
    await readTwo()
    expect(await reader.queries.during(() => Promise.all([readOne(), readTwo()]))).toBe(0)
    const received = reader.prisma.$cache.stats().invalidationsReceived

    await writer.prisma.user.update({ where: { id: one.id }, data: { name: 'Uno' } })
    await until(() => reader.prisma.$cache.stats().invalidationsReceived > received, 'the bus message')

    expect(await reader.queries.during(async () => expect(await readOne()).toMatchObject({ name: 'Uno' }))).toBe(1)
    expect(await reader.queries.during(readTwo)).toBe(0)
  })
})

/**
 * A cached client on a named connection of its own, once the commands it sends on connecting
 * are behind it: the cache checks Redis's run id then, and that must not count as a read's.
 */
async function settledClient(redis: Awaited<ReturnType<typeof watchRedis>>, connectionName: string) {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const client = await fixture.cached({ redis: { host: url.hostname, port: Number(url.port || 6379), connectionName } })
  const addresses = await redis.addressesOf(connectionName)
  await until(
    () => redis.seen.some(({ args, source }) => args[0] === 'info' && addresses.includes(source)),
    `the run-id check of ${connectionName}`,
  )
  return { ...client, addresses }
}

describe('what a hit costs', () => {
  test('no database query; on an L1 miss one Redis command, on an L1 hit none', async () => {
    const connectionName = `${fixture.prefix}-reader`
    const redis = await watchRedis(fixture.redis)
    try {
      const writer = await fixture.cached()
      const user = await writer.prisma.user.create({ data: { email: 'one@x.test', posts: { create: { title: 'p' } } } })
      const read = (prisma: typeof writer.prisma) => () =>
        prisma.user.findUnique({ where: { id: user.id }, include: { posts: true } })
      const loaded = await read(writer.prisma)()
      await fixture.entriesInRedis(1)

      const { addresses, ...reader } = await settledClient(redis, connectionName)
      expect(addresses).toHaveLength(2)

      let fromRedis: unknown
      const l1Miss = await redis.commandsDuring(connectionName, async () => {
        expect(await reader.queries.during(async () => (fromRedis = await read(reader.prisma)()))).toBe(0)
      })
      expect(fromRedis).toStrictEqual(loaded)
      expect(reader.prisma.$cache.stats()).toMatchObject({ l2Hits: 1, loads: 0 })
      // One round trip of plain commands, no script: the entry (SET … NX GET, which would take the
      // fill lock had it been missing), then each tag's version.
      expect(l1Miss.map(([command]) => command)).toEqual(l1Miss.map(() => 'set'))
      expect(l1Miss.length).toBeGreaterThan(1)

      const l1Hit = await redis.commandsDuring(connectionName, async () => {
        expect(await reader.queries.during(read(reader.prisma))).toBe(0)
      })
      expect(l1Hit).toEqual([])
      expect(reader.prisma.$cache.stats()).toMatchObject({ l1Hits: 1, l2Hits: 1, loads: 0 })
    } finally {
      redis.close()
    }
  })

  test('a miss sends one round trip before its query (the read, which takes the fill lock) and one script after (the store)', async () => {
    const connectionName = `${fixture.prefix}-loader`
    const redis = await watchRedis(fixture.redis)
    try {
      const writer = await fixture.cached()
      const user = await writer.prisma.user.create({ data: { email: 'one@x.test' } })
      const loader = await settledClient(redis, connectionName)
      const miss = await redis.commandsDuring(connectionName, async () => {
        expect(await loader.queries.during(() => loader.prisma.user.findUnique({ where: { id: user.id } }))).toBe(1)
        // The store runs after the caller has its value.
        await fixture.entriesInRedis(1)
      })
      const commands = miss.map(([command]) => command)
      // SET … NX GET of the entry (the fill lock if it is missing) and of each tag, then the store.
      expect(commands.slice(0, -1).every((command) => command === 'set')).toBe(true)
      expect(commands.length).toBeGreaterThan(2)
      expect(commands.at(-1)).toMatch(/^eval(sha)?$/)
      expect(loader.prisma.$cache.stats()).toMatchObject({ misses: 1, loads: 1 })
    } finally {
      redis.close()
    }
  })
})

describe('$disconnect', () => {
  test("closes the cache's own Redis connection; the client can be used again afterwards", async () => {
    const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
    const connectionName = `${fixture.prefix}-conn`
    const { prisma, queries } = await fixture.cached({
      redis: { host: url.hostname, port: Number(url.port || 6379), connectionName },
    })
    const connections = async () =>
      ((await fixture.redis.client('LIST')) as string)
        .split('\n')
        .filter((line) => line.includes(`name=${connectionName}`)).length
    await prisma.user.findMany()
    await fixture.entriesInRedis(1)
    // Commands and the bus's subscriber.
    expect(await connections()).toBeGreaterThan(0)

    await prisma.$disconnect()
    expect(await connections()).toBe(0)

    // Like Prisma itself, the next operation reconnects, cache included.
    await prisma.user.create({ data: { email: 'one@x.test' } })
    await cacheConnected(prisma)
    expect(await connections()).toBeGreaterThan(0)
    expect(await queries.during(() => prisma.user.findMany())).toBe(1)
    expect(await queries.during(() => prisma.user.findMany())).toBe(0)
    await prisma.$disconnect()
  })
})
