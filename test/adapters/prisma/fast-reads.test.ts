// The client prismaCache returns answers fresh in-process hits before Prisma's
// query pipeline: these tests pin that such an answer behaves as Prisma's own
// lazy promise would, wherever a hit from memory could be wrong.
import { describe, expect, test } from 'vitest'
import { InvalidOptionError } from '../../../src/errors.js'
import { usePrismaFixture } from './fixture.js'

const fixture = usePrismaFixture('prisma-fast-reads')

describe('hits answered before Prisma', () => {
  test('a read runs when awaited, not when made: one made before a write and awaited after it sees the write', async () => {
    const { prisma, queries } = await fixture.cached()
    const user = await prisma.user.create({ data: { email: 'a@x.test', name: 'before' } })
    const read = () => prisma.user.findUnique({ where: { id: user.id } })
    await read()
    expect(await queries.during(read)).toBe(0)

    const pending = read()
    await prisma.user.update({ where: { id: user.id }, data: { name: 'after' } })
    expect(await pending).toMatchObject({ name: 'after' })
    // Awaited twice, it is one read with one result.
    expect(await queries.during(async () => expect(await pending).toMatchObject({ name: 'after' }))).toBe(0)
  })

  test("a cold client's first repeat of a read is a hit from memory", async () => {
    const { prisma: writer } = await fixture.cached()
    const user = await writer.user.create({ data: { email: 'a@x.test', name: 'cold' } })
    const { prisma, queries } = fixture.cold()
    const read = () => prisma.$cache.withInfo(() => prisma.user.findUnique({ where: { id: user.id } }))
    expect((await read()).info.origin).toBe('database')
    const repeat = await read()
    expect(repeat.info.origin).toBe('l1')
    expect(repeat.data).toMatchObject({ name: 'cold' })
    expect(queries.count).toBe(1)
  })

  test('in a batch $transaction a cached read runs in the transaction and sees the writes before it', async () => {
    const { prisma, queries } = await fixture.cached()
    const user = await prisma.user.create({ data: { email: 'a@x.test', name: 'before' } })
    const read = () => prisma.user.findUnique({ where: { id: user.id } })
    await read()
    expect(await queries.during(read)).toBe(0)

    const [, inTransaction] = await prisma.$transaction([
      prisma.user.update({ where: { id: user.id }, data: { name: 'in the batch' } }),
      read(),
    ])
    expect(inTransaction).toMatchObject({ name: 'in the batch' })
    expect(await read()).toMatchObject({ name: 'in the batch' })
  })

  test('an interactive transaction reads its own writes, not the cached row', async () => {
    const { prisma } = await fixture.cached()
    const user = await prisma.user.create({ data: { email: 'a@x.test', name: 'before' } })
    await prisma.user.findUnique({ where: { id: user.id } })
    const seen = await prisma.$transaction(async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { name: 'uncommitted' } })
      return tx.user.findUnique({ where: { id: user.id } })
    })
    expect(seen).toMatchObject({ name: 'uncommitted' })
  })

  test('the fluent API works on a read whose parent row is cached, and its own result is cached too', async () => {
    const { prisma, queries } = await fixture.cached()
    const user = await prisma.user.create({ data: { email: 'a@x.test', posts: { create: [{ title: 'p1' }] } } })
    await prisma.user.findUnique({ where: { id: user.id } })
    const posts = () => prisma.user.findUnique({ where: { id: user.id } }).posts()
    expect(await posts()).toMatchObject([{ title: 'p1' }])
    expect(await queries.during(async () => expect(await posts()).toMatchObject([{ title: 'p1' }]))).toBe(0)
  })

  test('a hit is a copy: mutating it changes neither the cache nor the next hit', async () => {
    const { prisma } = await fixture.cached()
    const user = await prisma.user.create({ data: { email: 'a@x.test', name: 'kept' } })
    await prisma.user.findUnique({ where: { id: user.id } })
    const hit = await prisma.user.findUnique({ where: { id: user.id } })
    if (hit === null) throw new Error('the user should be there')
    hit.name = 'changed by the caller'
    expect(await prisma.user.findUnique({ where: { id: user.id } })).toMatchObject({ name: 'kept' })
  })

  test('a bad cache option is refused as before, not answered from memory', async () => {
    const { prisma } = await fixture.cached()
    const user = await prisma.user.create({ data: { email: 'a@x.test' } })
    await prisma.user.findUnique({ where: { id: user.id } })
    const read = prisma.user.findUnique({
      where: { id: user.id },
      // @ts-expect-error the option is checked at run time too
      cache: { ttl: '1m', colour: 'red' },
    })
    await expect(read).rejects.toThrow(InvalidOptionError)
  })

  test('arguments that are not an object get what Prisma gives them without the cache', async () => {
    const { prisma } = await fixture.cached()
    const { prisma: plain } = fixture.base()
    await prisma.user.create({ data: { email: 'a@x.test' } })
    const outcome = (read: Promise<unknown>) =>
      read.then(
        (value) => ({ value }),
        (error: unknown) => ({ error: (error as Error).constructor }),
      )
    for (const args of [5, 'not arguments', [1]]) {
      expect(await outcome(prisma.user.findMany(args as never))).toEqual(
        await outcome(plain.user.findMany(args as never)),
      )
    }
  })

  test('cache: false and a model set to false go to the database even when the entry is in memory', async () => {
    const { prisma, queries } = await fixture.cached({ models: { Tag: false } })
    const user = await prisma.user.create({ data: { email: 'a@x.test' } })
    await prisma.user.findUnique({ where: { id: user.id } })
    expect(await queries.during(() => prisma.user.findUnique({ where: { id: user.id }, cache: false }))).toBe(1)
    await prisma.tag.findMany()
    expect(await queries.during(() => prisma.tag.findMany())).toBe(1)
  })
})
