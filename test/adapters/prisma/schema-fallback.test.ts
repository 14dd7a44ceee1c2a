// A schema the parser cannot read: the client still caches, invalidates more
// broadly (never less), and says so: `stats().schemaFallbacks`, one process
// warning per schema, and an `ormcache:schema-fallback` event per client.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { afterEach, expect, test, vi } from 'vitest'
import { readSchema, SCHEMA_FALLBACK_WARNING } from '../../../adapters/prisma/schema-fallback.js'
import { SchemaParseError } from '../../../src/errors.js'
import { usePrismaFixture } from './fixture.js'

// Every schema is unreadable in this file: a construct a future Prisma adds, say.
vi.mock('../../../adapters/prisma/schema-parser.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../adapters/prisma/schema-parser.js')>()
  const errors = await import('../../../src/errors.js')
  return {
    ...original,
    parseSchema: () => {
      throw new errors.SchemaParseError('unexpected `@@future` in User')
    },
  }
})

const fixture = usePrismaFixture('prisma-schema-fallback')

const listeners: ((message: unknown) => void)[] = []
afterEach(() => {
  for (const listener of listeners.splice(0)) unsubscribe('ormcache:schema-fallback', listener)
  vi.restoreAllMocks()
})

test('is counted, warned about once, reported per client, and invalidates more', async () => {
  const events: unknown[] = []
  const listener = (message: unknown) => events.push(message)
  subscribe('ormcache:schema-fallback', listener)
  listeners.push(listener)
  const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})

  const first = await fixture.cached()
  const second = await fixture.cached()

  expect(first.prisma.$cache.stats().schemaFallbacks).toBe(1)
  expect(second.prisma.$cache.stats().schemaFallbacks).toBe(1)
  const warnings = emitWarning.mock.calls.filter(
    ([, options]) => (options as { code?: string } | undefined)?.code === SCHEMA_FALLBACK_WARNING,
  )
  expect(warnings).toHaveLength(1)
  expect(warnings[0]![0]).toMatch(/cannot read the Prisma schema: unexpected `@@future` in User.*coarser/)
  expect(warnings[0]![1]).toEqual({ type: 'OrmCacheWarning', code: SCHEMA_FALLBACK_WARNING })
  expect(events).toHaveLength(2)
  for (const event of events) {
    expect(event).toEqual({ prefix: fixture.prefix, error: expect.any(SchemaParseError) })
    expect((event as { error: SchemaParseError }).error.code).toBe('E_SCHEMA_PARSE')
  }

  // Reads are cached; a delete of a Post, which changes no User row when the schema is read
  // (Post holds the key), evicts User reads too: without the schema, anything related may change.
  const { prisma, queries } = first
  const user = await prisma.user.create({ data: { email: 'a@x.test', posts: { create: { title: 'p' } } } })
  const users = () => prisma.user.findMany()
  await users()
  expect(await queries.during(users)).toBe(0)
  await prisma.post.deleteMany({ where: { authorId: user.id } })
  expect(await queries.during(users)).toBe(1)
})

test('a client that embeds no schema text falls back the same way, warned about once', () => {
  const events: unknown[] = []
  const listener = (message: unknown) => events.push(message)
  subscribe('ormcache:schema-fallback', listener)
  listeners.push(listener)
  const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
  expect(readSchema(undefined, 'app')).toBeUndefined()
  expect(readSchema(undefined, 'app')).toBeUndefined()
  expect(events).toEqual([
    { prefix: 'app', error: expect.any(SchemaParseError) },
    { prefix: 'app', error: expect.any(SchemaParseError) },
  ])
  expect((events[0] as { error: Error }).error.message).toMatch(/embeds no schema text/)
  expect(emitWarning).toHaveBeenCalledTimes(1)
})
