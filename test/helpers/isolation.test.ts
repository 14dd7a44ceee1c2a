// The isolation helpers must clean up exactly what a test made and nothing of
// its neighbours', since every test file shares one Redis and one database.

import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { describe, expect, test } from 'vitest'
import { createMysqlDatabase, createPgSchema } from './databases.js'
import { disposeAfterTest } from './lifecycle.js'
import { deleteKeysWithPrefix, uniquePrefix } from './prefix.js'
import { redisUrl } from './services.js'

describe('uniquePrefix', () => {
  test('is unique, keeps the label readable and uses only key-safe characters', () => {
    const prefixes = Array.from({ length: 100 }, () => uniquePrefix('user {list} é'))
    expect(new Set(prefixes).size).toBe(100)
    for (const prefix of prefixes) expect(prefix).toMatch(/^t-user-list-[A-Za-z0-9_.:-]+$/)
  })
})

describe('deleteKeysWithPrefix', () => {
  test('deletes plain and hash-tagged keys of the prefix and leaves every other key', async () => {
    const redis = new Redis(await redisUrl())
    const prefix = uniquePrefix('cleanup')
    const neighbour = uniquePrefix('neighbour')
    try {
      await redis.set(`${prefix}:user:1`, 'a')
      await redis.set(`{${prefix}}:t:User`, 'b')
      await redis.set(`${neighbour}:user:1`, 'c')
      await redis.set(`{${neighbour}}:t:User`, 'd')

      expect(await deleteKeysWithPrefix(redis, prefix)).toBe(2)
      expect(await redis.exists(`${prefix}:user:1`, `{${prefix}}:t:User`)).toBe(0)
      expect(await redis.mget(`${neighbour}:user:1`, `{${neighbour}}:t:User`)).toEqual(['c', 'd'])
    } finally {
      await deleteKeysWithPrefix(redis, neighbour)
      redis.disconnect()
    }
  })

  test('refuses an empty prefix', async () => {
    const redis = new Redis(await redisUrl(), { lazyConnect: true })
    await expect(deleteKeysWithPrefix(redis, '')).rejects.toThrow(/non-empty/)
    redis.disconnect()
  })
})

describe('createPgSchema', () => {
  test('gives a private schema and drops only it', async () => {
    const { schema, url, drop } = disposeAfterTest(await createPgSchema('helpers'))
    expect(new URL(url).searchParams.get('schema')).toBe(schema)

    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(`CREATE TABLE "${schema}".item (id int primary key)`)
      await client.query(`INSERT INTO "${schema}".item VALUES (1)`)
      await drop()
      const remaining = await client.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema])
      expect(remaining.rowCount).toBe(0)
      const publicSchema = await client.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'public'")
      expect(publicSchema.rowCount).toBe(1)
    } finally {
      await client.end()
    }
  })
})

describe('createMysqlDatabase', () => {
  test('gives a private database and drops only it', async () => {
    const { database, url, drop } = disposeAfterTest(await createMysqlDatabase('helpers'))
    expect(new URL(url).pathname).toBe(`/${database}`)

    const connection = await mysql.createConnection(url)
    try {
      await connection.query('CREATE TABLE item (id int primary key)')
      await connection.query('INSERT INTO item VALUES (1)')
      const [rows] = await connection.query('SELECT DATABASE() AS current')
      expect(rows).toEqual([{ current: database }])
      await drop()
      const [remaining] = await connection.query('SHOW DATABASES LIKE ?', [database])
      expect(remaining).toEqual([])
      const [shared] = await connection.query("SHOW DATABASES LIKE 'test'")
      expect(shared).toHaveLength(1)
    } finally {
      await connection.end()
    }
  })
})
