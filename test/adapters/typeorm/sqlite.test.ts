// The shared TypeORM suite on SQLite (better-sqlite3), a database file of its own,
// and SQLite's own SQL.
import { describe, expect, test } from 'vitest'
import { User } from './entities.js'
import { seedUsersAndPosts, useTypeormFixture } from './fixture.js'
import { describeTypeormSuite } from './suite.js'

const fixture = useTypeormFixture('typeorm-sqlite', 'sqlite')
describeTypeormSuite(fixture)

describe('SQLite conflict clauses', () => {
  test('raw INSERT OR IGNORE / OR REPLACE and UPDATE OR REPLACE evict the reads of their table', async () => {
    await seedUsersAndPosts(fixture.plain.dataSource)
    const cached = await fixture.cached()
    const names = async () =>
      (await cached.dataSource.getRepository(User).find({ order: { id: 'ASC' } })).map((user) => user.name)
    const byId = (id: number) => cached.dataSource.getRepository(User).findOneBy({ id })
    expect(await names()).toStrictEqual(['A', 'B'])
    expect(await byId(2)).not.toBeNull()

    await cached.dataSource.query(`INSERT OR IGNORE INTO "user"("email", "name") VALUES ('c@x.test', 'C')`)
    expect(await cached.queries.during(async () => expect(await names()).toStrictEqual(['A', 'B', 'C']))).toBe(1)
    // REPLACE deletes the row whose unique email collides, then inserts: id 2 is gone.
    await cached.dataSource.query(`INSERT OR REPLACE INTO "user"("id", "email", "name") VALUES (4, 'b@x.test', 'B4')`)
    expect(await cached.queries.during(async () => expect(await byId(2)).toBeNull())).toBeGreaterThan(0)
    await cached.dataSource.query(`UPDATE OR REPLACE "user" SET "email" = 'a@x.test', "name" = 'C2' WHERE "id" = 3`)
    expect(await names()).toStrictEqual(['C2', 'B4'])
  })
})
