// The bookkeeping behind deferred invalidation, without a database: which
// scope a transaction's writes land in, and what each outcome invalidates.
import { describe, expect, test } from 'vitest'
import { TransactionTracker } from '../../../adapters/prisma/transactions.js'

function tracker() {
  const invalidated: string[][] = []
  const tracker = new TransactionTracker(async (tags) => {
    invalidated.push([...tags].sort())
  })
  return { tracker, invalidated }
}

const itx = (id: string) => ({ kind: 'itx', id })

describe('TransactionTracker', () => {
  test('invalidates a committed transaction once, after it resolves', async () => {
    const { tracker: transactions, invalidated } = tracker()
    await transactions.run(false, async () => {
      expect(transactions.record(itx('a'), ['User', 'User#1'])).toBe(true)
      expect(transactions.record(itx('a'), ['Post'])).toBe(true)
      expect(invalidated).toEqual([])
    })
    expect(invalidated).toEqual([['Post', 'User', 'User#1']])
  })

  test('drops the tags of a transaction that rejects', async () => {
    const { tracker: transactions, invalidated } = tracker()
    await expect(
      transactions.run(false, async () => {
        transactions.record(itx('a'), ['User'])
        throw new Error('rollback')
      }),
    ).rejects.toThrow('rollback')
    expect(invalidated).toEqual([])
  })

  test('hands a nested transaction’s tags to the outer one, even when the nested one fails', async () => {
    const { tracker: transactions, invalidated } = tracker()
    await transactions.run(false, async () => {
      transactions.record(itx('a'), ['User'])
      await transactions.run(true, async () => {
        transactions.record(itx('a'), ['Post'])
      })
      await transactions
        .run(true, async () => {
          transactions.record(itx('a'), ['Tag'])
          throw new Error('savepoint rolled back')
        })
        .catch(() => {})
      expect(invalidated).toEqual([])
    })
    expect(invalidated).toEqual([['Post', 'Tag', 'User']])
  })

  test('finds a transaction’s scope from another async context, and refuses one nobody started', async () => {
    const { tracker: transactions, invalidated } = tracker()
    let fromOutside: (() => boolean) | undefined
    await transactions.run(false, async () => {
      transactions.record(itx('a'), ['User'])
      fromOutside = () => transactions.record(itx('a'), ['Late'])
      // An independent transaction inside the callback gets a scope of its own.
      await transactions.run(false, async () => {
        transactions.record(itx('b'), ['Post'])
        // The outer transaction's client used in here still records into the outer scope.
        transactions.record(itx('a'), ['Profile'])
      })
      expect(invalidated).toEqual([['Post']])
    })
    expect(invalidated).toEqual([['Post'], ['Profile', 'User']])
    // After the outcome, and for transactions no `run` started, the caller must fall back.
    expect(fromOutside!()).toBe(false)
    expect(transactions.record(itx('never-started'), ['User'])).toBe(false)
    expect(transactions.record({ kind: 'batch', id: 7 }, ['User'])).toBe(false)
  })
})
