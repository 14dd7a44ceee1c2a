import { afterEach, expect, test } from 'vitest'
import { SocketReads } from '../../src/socket-reads.js'

const watchers: SocketReads[] = []
afterEach(() => {
  for (const watcher of watchers.splice(0)) watcher.stop()
})

function watcher(): SocketReads {
  const created = new SocketReads()
  watchers.push(created)
  return created
}

const turn = () => new Promise((resolve) => setImmediate(resolve))

function busyFor(ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) {
    // a synchronous stretch: no socket is read meanwhile
  }
}

test('nothing is known read before a poll phase has run while watching', async () => {
  const reads = watcher()
  expect(reads.readWithin(Date.now(), 20)).toBe(false)
  await reads.nextRead()
  expect(reads.readWithin(Date.now(), 20)).toBe(true)
})

test('a synchronous stretch past the bound is not a read', async () => {
  const reads = watcher()
  await reads.nextRead()
  busyFor(30)
  expect(reads.readWithin(Date.now(), 20)).toBe(false)
  await reads.nextRead()
  expect(reads.readWithin(Date.now(), 20)).toBe(true)
})

test('a waiter is released only after a poll phase that followed its call', async () => {
  const reads = watcher()
  let released = false
  void reads.nextRead().then(() => {
    released = true
  })
  await turn()
  expect(released).toBe(false)
  await turn()
  await turn()
  expect(released).toBe(true)
})

test('stop releases waiters', async () => {
  const reads = watcher()
  const waiting = reads.nextRead()
  reads.stop()
  await expect(waiting).resolves.toBeUndefined()
})
