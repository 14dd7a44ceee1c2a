import { describe, expect, test } from 'vitest'
import { cacheOf } from '../../../adapters/typeorm/index.js'
import { until } from '../../fixtures/wait.js'
import { User } from './entities.js'
import { type TestDataSource, useTypeormFixture } from './fixture.js'

const fixture = useTypeormFixture('typeorm-transactions')

async function seed() {
  const users = fixture.plain.dataSource.getRepository(User)
  await users.save([
    { email: 'a@x.test', name: 'A' },
    { email: 'b@x.test', name: 'B' },
  ])
}

const names = (source: TestDataSource['dataSource']) =>
  source
    .getRepository(User)
    .find({ order: { id: 'ASC' } })
    .then((users) => users.map((user) => user.name))

describe('transactions', () => {
  test('a committed transaction invalidates after COMMIT, not before', async () => {
    await seed()
    const cached = await fixture.cached()
    await names(cached.dataSource)
    const invalidations = () => cacheOf(cached.dataSource).stats().invalidations

    const before = invalidations()
    await cached.dataSource.transaction(async (manager) => {
      await manager.getRepository(User).update({ id: 1 }, { name: 'A2' })
      await manager.getRepository(User).insert({ email: 'c@x.test', name: 'C' })
      // Not yet committed: nothing invalidated, other readers still get the committed data, from the cache.
      expect(invalidations()).toBe(before)
      expect(
        await cached.queries.during(async () => expect(await names(cached.dataSource)).toStrictEqual(['A', 'B'])),
      ).toBe(0)
    })
    expect(invalidations()).toBeGreaterThan(before)
    expect(
      await cached.queries.during(async () => expect(await names(cached.dataSource)).toStrictEqual(['A2', 'B', 'C'])),
    ).toBe(1)
  })

  test('a rolled-back transaction invalidates nothing', async () => {
    await seed()
    const cached = await fixture.cached()
    await names(cached.dataSource)
    const before = cacheOf(cached.dataSource).stats().invalidations
    await expect(
      cached.dataSource.transaction(async (manager) => {
        await manager.getRepository(User).update({ id: 1 }, { name: 'A2' })
        await manager.query(`DELETE FROM "${fixture.schema}"."user" WHERE id = 2`)
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    expect(cacheOf(cached.dataSource).stats().invalidations).toBe(before)
    expect(
      await cached.queries.during(async () => expect(await names(cached.dataSource)).toStrictEqual(['A', 'B'])),
    ).toBe(0)
  })

  test('a query runner transaction: rollback drops, commit invalidates, a nested savepoint joins the outer transaction', async () => {
    await seed()
    const cached = await fixture.cached()
    const runner = cached.dataSource.createQueryRunner()
    try {
      await names(cached.dataSource)
      await runner.startTransaction()
      await runner.manager.getRepository(User).update({ id: 1 }, { name: 'rolled back' })
      await runner.rollbackTransaction()
      expect(await cached.queries.during(() => names(cached.dataSource))).toBe(0)

      await runner.startTransaction()
      await runner.startTransaction() // SAVEPOINT
      await runner.manager.getRepository(User).update({ id: 1 }, { name: 'inner' })
      await runner.commitTransaction() // RELEASE SAVEPOINT: still inside the outer transaction
      expect(await cached.queries.during(() => names(cached.dataSource))).toBe(0)
      await runner.commitTransaction()
      expect(
        await cached.queries.during(async () => expect(await names(cached.dataSource)).toStrictEqual(['inner', 'B'])),
      ).toBe(1)
    } finally {
      await runner.release()
    }
  })

  test('raw BEGIN … COMMIT through query() defers too', async () => {
    await seed()
    const cached = await fixture.cached()
    const runner = cached.dataSource.createQueryRunner()
    try {
      await names(cached.dataSource)
      await runner.query('BEGIN')
      await runner.query(`UPDATE "${fixture.schema}"."user" SET name = 'raw' WHERE id = 2`)
      expect(await cached.queries.during(() => names(cached.dataSource))).toBe(0)
      await runner.query('COMMIT')
      expect(
        await cached.queries.during(async () => expect(await names(cached.dataSource)).toStrictEqual(['A', 'raw'])),
      ).toBe(1)
      await runner.query('BEGIN')
      await runner.query(`UPDATE "${fixture.schema}"."user" SET name = 'never' WHERE id = 2`)
      await runner.query('ROLLBACK')
      expect(await cached.queries.during(() => names(cached.dataSource))).toBe(0)
    } finally {
      await runner.release()
    }
  })

  test('a read that raced a transaction does not leave pre-commit data cached after COMMIT', async () => {
    await seed()
    const cached = await fixture.cached()
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let updated: () => void = () => {}
    const afterUpdate = new Promise<void>((resolve) => {
      updated = resolve
    })
    const writer = cached.dataSource.transaction(async (manager) => {
      await manager.getRepository(User).update({ id: 1 }, { name: 'committed' })
      updated()
      await gate
    })
    await afterUpdate
    // Read after the UPDATE, before COMMIT: the database still shows the old row, and the read caches it.
    expect(await names(cached.dataSource)).toStrictEqual(['A', 'B'])
    release()
    await writer
    expect(await names(cached.dataSource)).toStrictEqual(['committed', 'B'])
  })

  test('another instance sharing the prefix sees a committed write on its next read', async () => {
    await seed()
    const first = await fixture.cached()
    const second = await fixture.cached()
    await names(first.dataSource)
    await names(second.dataSource)
    expect(await second.queries.during(() => names(second.dataSource))).toBe(0)

    const received = cacheOf(second.dataSource).stats().invalidationsReceived
    await first.dataSource.transaction((manager) => manager.getRepository(User).update({ id: 2 }, { name: 'B2' }))
    // Its memory drops the entry when the bus message arrives; waiting for that, not for a fixed time.
    await until(() => cacheOf(second.dataSource).stats().invalidationsReceived > received, 'the invalidation to arrive')
    expect(
      await second.queries.during(async () => expect(await names(second.dataSource)).toStrictEqual(['A', 'B2'])),
    ).toBe(1)

    // And a second instance reading from Redis only is right at once, without waiting for the bus.
    const viaRedis = await fixture.cached({ l1: false })
    await names(viaRedis.dataSource)
    await first.dataSource.getRepository(User).update({ id: 1 }, { name: 'A2' })
    expect(await names(viaRedis.dataSource)).toStrictEqual(['A2', 'B2'])
  })
})
