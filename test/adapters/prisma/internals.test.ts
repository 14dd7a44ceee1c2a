// Pins the Prisma 7 internals the adapter relies on, on a real generated client,
// so an upgrade that moves one of them fails here rather than caching wrongly.
import { readFileSync } from 'node:fs'
import { Prisma } from '@prisma/client/extension'
import { describe, expect, test } from 'vitest'
import { isTransactionClient, readClientInternals } from '../../../adapters/prisma/client-internals.js'
import { parseSchema } from '../../../adapters/prisma/schema-parser.js'
import { usePrismaFixture } from './fixture.js'

const fixture = usePrismaFixture('prisma-internals')

interface Seen {
  operation: string
  transaction: unknown
  dataPath: unknown
}

/** An extension that records what Prisma passes a top-level `$allOperations`, and the client it extends. */
function probe(seen: Seen[], clients: object[]) {
  return Prisma.defineExtension((client) => {
    clients.push(client)
    return client.$extends({
      query: {
        $allOperations({ operation, args, query, ...rest }) {
          const internal = (rest as { __internalParams?: { transaction?: unknown; dataPath?: unknown } })
            .__internalParams
          const transaction = internal?.transaction as Record<string, unknown> | undefined
          seen.push({
            operation,
            // The batch lock is a promise; only the identifying fields matter.
            transaction: transaction && { kind: transaction.kind, id: transaction.id, index: transaction.index },
            dataPath: internal?.dataPath,
          })
          return query(args)
        },
      },
    })
  })
}

describe('Prisma internals used by ormcache/prisma', () => {
  test('the client exposes its runtime data model, schema text, provider and transaction options', () => {
    const { prisma } = fixture.base()
    const clients: object[] = []
    prisma.$extends(probe([], clients))
    const internals = readClientInternals(clients[0]!)
    expect(Object.keys(internals.runtimeDataModel.models)).toEqual([
      'User',
      'Post',
      'Profile',
      'Group',
      'Membership',
      'Tag',
      'Sample',
    ])
    expect(internals.runtimeDataModel.models.Post?.fields).toContainEqual({
      name: 'author',
      kind: 'object',
      type: 'User',
      relationName: 'PostToUser',
    })
    expect(internals.provider).toBe('postgresql')
    expect(internals.transactionTimeoutMs).toBe(5_000)
    // The embedded schema is the schema file, reformatted: the same models once parsed.
    const file = readFileSync(new URL('./schema.prisma', import.meta.url), 'utf8')
    expect(parseSchema(internals.inlineSchema!)).toEqual(parseSchema(file))
    // Whether extensions were applied before ours: the fast path for hits depends on knowing it.
    expect(internals.unextended).toBe(true)
    const afterAnother: object[] = []
    prisma
      .$extends({ query: { $allModels: { $allOperations: ({ args, query }) => query(args) } } })
      .$extends(probe([], afterAnother))
    expect(readClientInternals(afterAnother[0]!).unextended).toBe(false)
  })

  test('operations carry their transaction and fluent data path in __internalParams', async () => {
    const seen: Seen[] = []
    const { prisma: base } = fixture.base()
    const prisma = base.$extends(probe(seen, []))
    const user = await prisma.user.create({ data: { email: 'a@x.test' } })
    await prisma.user.findUnique({ where: { id: user.id } }).posts()
    await prisma.$transaction(async (tx) => {
      expect(isTransactionClient(tx)).toBe(true)
      await tx.user.findMany()
    })
    await prisma.$transaction([prisma.user.count(), prisma.user.findMany()])
    expect(isTransactionClient(prisma)).toBe(false)

    expect(seen[0]).toEqual({ operation: 'create', transaction: undefined, dataPath: [] })
    expect(seen[1]).toEqual({ operation: 'findUnique', transaction: undefined, dataPath: ['select', 'posts'] })
    expect(seen[2]).toEqual({
      operation: 'findMany',
      transaction: { kind: 'itx', id: expect.any(String), index: undefined },
      dataPath: [],
    })
    const batch = seen.slice(3).map((entry) => entry.transaction)
    expect(batch).toEqual([
      { kind: 'batch', id: expect.any(Number), index: 0 },
      { kind: 'batch', id: expect.any(Number), index: 1 },
    ])
  })
})
