// Issue 8 §3.3: what reaches Redis as names — entry, lock and tag keys, bus
// channels and bus messages — never holds a query's raw argument values (they
// may be personal data), nor their obvious encodings. Reads and writes with
// recognisable values go through the engine and both adapters; then every key of
// the test's prefix is scanned and every message on its channels checked.

import { Redis } from 'ioredis'
import { afterEach, describe, expect, test } from 'vitest'
import { hashArgs } from '../../src/keys.js'
import { usePrismaFixture } from '../adapters/prisma/fixture.js'
import { Prisma } from '../adapters/prisma/generated/client.js'
import { User } from '../adapters/typeorm/entities.js'
import { useTypeormFixture } from '../adapters/typeorm/fixture.js'
import { redisCaches } from '../fixtures/redis-cache.js'
import { until } from '../fixtures/wait.js'
import { keysWithPrefix } from '../helpers/prefix.js'
import { redisUrl } from '../helpers/services.js'

const EMAIL = 'alice.private+ormcache@example.com'
const TOKEN = 'tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0zyx'
const NUMBER = 987_654_321_012

/** A raw value and the forms it would take if a key or message carried it encoded. */
function forms(value: string | number): string[] {
  const text = String(value)
  const bytes = Buffer.from(text)
  const found = [
    text,
    text.toLowerCase(),
    JSON.stringify(text),
    encodeURIComponent(text),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    bytes.toString('hex'),
  ]
  if (typeof value === 'number') found.push(value.toString(16), value.toString(36))
  // Fragments, so a value cut or split across a key still shows.
  if (text.length > 16) found.push(text.slice(0, 12), text.slice(-12))
  return found
}

const FORBIDDEN = [EMAIL, TOKEN, NUMBER, 'alice.private'].flatMap(forms)

function leaks(text: string): string[] {
  const lower = text.toLowerCase()
  return FORBIDDEN.filter((form) => lower.includes(form.toLowerCase()))
}

/** Every key name under `prefix`, and a recorder of every message on its channels. */
async function watchPrefix(prefix: string) {
  const subscriber = new Redis(await redisUrl())
  subscribers.push(subscriber)
  const messages: { channel: string; message: string }[] = []
  subscriber.on('pmessage', (_, channel: string, message: string) => messages.push({ channel, message }))
  await subscriber.psubscribe(`${prefix}*`)
  const invalidations = () => messages.filter(({ channel }) => channel === `${prefix}:bus`)
  return {
    messages,
    invalidations,
    keys: (admin: Redis) => keysWithPrefix(admin, prefix),
  }
}

const subscribers: Redis[] = []
afterEach(async () => {
  await Promise.all(subscribers.splice(0).map((subscriber) => subscriber.quit()))
})

async function expectNoRawValues(watch: Awaited<ReturnType<typeof watchPrefix>>, admin: Redis, writes: number) {
  // Each write publishes one invalidation; wait for all of them before looking.
  await until(() => watch.invalidations().length >= writes, `${writes} invalidations on the bus`)
  const keys = await watch.keys(admin)
  const entries = keys.filter((key) => key.includes(':e:'))
  const tags = keys.filter((key) => key.includes(':t:'))
  expect(entries.length).toBeGreaterThan(2)
  expect(tags.length).toBeGreaterThan(0)
  for (const key of keys) expect(leaks(key), key).toEqual([])
  for (const { channel, message } of watch.messages) expect(leaks(`${channel} ${message}`), message).toEqual([])
  return { keys: keys.length, messages: watch.messages.length }
}

describe('the engine', () => {
  const engine = redisCaches('guarantee-raw')

  test('keys and tags made with hashArgs carry no raw value', async () => {
    const prefix = engine.prefix()
    const watch = await watchPrefix(prefix)
    const cache = await engine.liveCache(prefix)
    const queries = [{ where: { email: EMAIL } }, { where: { token: TOKEN } }, { where: { id: NUMBER } }]
    for (const args of queries) {
      await cache.getOrLoad(`User:findFirst:${hashArgs(args)}`, ['User', `User#${hashArgs([NUMBER])}`], () => args)
      await engine.stored(prefix, `User:findFirst:${hashArgs(args)}`)
    }
    await cache.invalidate({ tags: [`User#${hashArgs([NUMBER])}`] })
    await expectNoRawValues(watch, (await engine.admin()) as Redis, 1)
  })
})

describe('Prisma', () => {
  const prisma = usePrismaFixture('guarantee_raw')

  test('reads and writes by email, token and number leave none of them in Redis names or bus messages', async () => {
    const watch = await watchPrefix(prisma.prefix)
    const { prisma: client } = await prisma.cached()
    const user = await client.user.create({ data: { email: EMAIL, name: TOKEN } })
    await client.sample.create({
      data: {
        id: BigInt(NUMBER),
        amount: NUMBER,
        at: new Date(NUMBER),
        bytes: Buffer.from(TOKEN),
        json: { EMAIL },
        label: TOKEN,
      },
    })
    await client.user.findUnique({ where: { email: EMAIL } })
    await client.user.findFirst({ where: { name: { startsWith: TOKEN } } })
    await client.user.findMany({ where: { OR: [{ email: EMAIL }, { name: TOKEN }] } })
    await client.sample.findUnique({ where: { id: BigInt(NUMBER) } })
    await client.sample.findMany({ where: { amount: { gte: NUMBER }, label: TOKEN } })
    await client.$cache.queryRaw(Prisma.sql`SELECT id FROM "User" WHERE email = ${EMAIL} OR name = ${TOKEN}`, {
      tags: ['User'],
    })
    await prisma.entriesInRedis(6)
    await client.user.update({ where: { email: EMAIL }, data: { name: `${TOKEN}-2` } })
    await client.sample.delete({ where: { id: BigInt(NUMBER) } })
    await client.user.delete({ where: { id: user.id } })
    // Two creates, an update and two deletes.
    await expectNoRawValues(watch, prisma.redis, 5)
  })
})

describe('TypeORM', () => {
  const typeorm = useTypeormFixture('guarantee_raw_typeorm')

  test('finds, query builders and raw queries by email, token and number leave none of them in Redis', async () => {
    const watch = await watchPrefix(typeorm.prefix)
    const { dataSource } = await typeorm.cached()
    const users = dataSource.getRepository(User)
    await users.save({ email: EMAIL, name: TOKEN, labels: [], visits: String(NUMBER), balance: '1.5' })
    await users.find({ where: { email: EMAIL }, cache: true })
    await users.findOne({ where: { name: TOKEN }, cache: true })
    await users.find({ where: { visits: String(NUMBER) }, cache: true })
    await users.createQueryBuilder('u').where('u.email = :email', { email: EMAIL }).cache(true).getMany()
    await users.createQueryBuilder('u').where('u.visits = :n', { n: NUMBER }).cache(true).getOne()
    await typeorm.entriesInRedis(5)
    await users.update({ email: EMAIL }, { name: `${TOKEN}-2` })
    await users.delete({ email: EMAIL })
    // The save, the update and the delete.
    await expectNoRawValues(watch, typeorm.redis, 3)
  })
})
