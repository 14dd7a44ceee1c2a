import { describe, expect, test } from 'vitest'
import { TransactionTags } from '../../../src/changes/transaction-tags.js'
import { rowsTag, rowTag, tableTag } from '../../../src/table-tags.js'

describe('the tags a committed transaction invalidates', () => {
  test('each row: its table tag and its row tag, once however often it changed', () => {
    const tags = new TransactionTags()
    expect(tags.empty).toBe(true)
    tags.add({ kind: 'begin' })
    tags.add({ kind: 'row', table: 'Users', key: ['1'] })
    tags.add({ kind: 'row', table: 'users', key: ['1'] })
    tags.add({ kind: 'row', table: 'users', key: ['2'] })
    tags.add({ kind: 'row', table: 'posts', key: ['9'] })
    expect(tags.empty).toBe(false)
    expect(tags.tags()).toEqual([
      tableTag('users'),
      rowTag('users', ['1']),
      rowTag('users', ['2']),
      tableTag('posts'),
      rowTag('posts', ['9']),
    ])
  })

  test('a row whose key is unknown, or a truncate, invalidates every read of the table, by key ones too', () => {
    const tags = new TransactionTags()
    tags.add({ kind: 'row', table: 'users', key: ['1'] })
    tags.add({ kind: 'row', table: 'users', key: undefined })
    tags.add({ kind: 'row', table: 'users', key: ['2'] })
    tags.add({ kind: 'tables', tables: ['posts'] })
    expect(tags.tags()).toEqual([tableTag('users'), rowsTag('users'), tableTag('posts'), rowsTag('posts')])
  })

  test('a bulk change coarsens to its table past 1,000 rows, and to everything past 1,000 tables', () => {
    const tags = new TransactionTags()
    for (let id = 0; id < 1_001; id++) tags.add({ kind: 'row', table: 'events', key: [String(id)] })
    expect(tags.tags()).toEqual([tableTag('events'), rowsTag('events')])
    for (let table = 0; table < 1_000; table++) tags.add({ kind: 'row', table: `t${table}`, key: ['1'] })
    expect(tags.tags()).toBe('all')
    tags.add({ kind: 'row', table: 'users', key: ['1'] })
    expect(tags.tags()).toBe('all')
    tags.clear()
    expect(tags.empty).toBe(true)
    expect(tags.tags()).toEqual([])
  })

  test('transactions committed one after another, absorbed into one invalidation, keep every tag', () => {
    const first = new TransactionTags()
    first.add({ kind: 'row', table: 'users', key: ['1'] })
    first.add({ kind: 'tables', tables: ['posts'] })
    const second = new TransactionTags()
    second.add({ kind: 'row', table: 'users', key: ['2'] })
    second.add({ kind: 'row', table: 'posts', key: ['3'] })
    const batch = new TransactionTags()
    batch.absorb(first)
    batch.absorb(second)
    expect(batch.tags()).toEqual([
      tableTag('users'),
      rowTag('users', ['1']),
      rowTag('users', ['2']),
      tableTag('posts'),
      rowsTag('posts'),
    ])
    const unknowable = new TransactionTags()
    unknowable.add({ kind: 'everything' })
    batch.absorb(unknowable)
    expect(batch.tags()).toBe('all')
  })
})
