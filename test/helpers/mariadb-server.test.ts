// Proves the private MariaDB helper gives what binlog tests rely on, and that
// nothing it starts outlives the test, or the process, that started it.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import mysql, { type RowDataPacket } from 'mysql2/promise'
import { describe, expect, onTestFinished, test } from 'vitest'
import { disposeAfterTest, useResource } from './lifecycle.js'
import { type MariadbServer, startMariadb } from './mariadb-server.js'
import { acceptsConnections, isProcessAlive, useServerChecks } from './server-checks.js'
import { processesIn } from './server-process.js'

const servers = useServerChecks()

async function remember(server: MariadbServer): Promise<string> {
  const dataDir = await dataDirectoryOf(server)
  servers.remember({ dir: dirname(dataDir), ports: [server.port] })
  return dataDir
}

describe('a server started for a block of tests', () => {
  const server = useResource(() => startMariadb({ settings: { max_connections: '42' } }))

  test('logs rows to its binlog, which the shared server on 3306 does not', async () => {
    await remember(server())
    expect(server().url).toBe(`mysql://root@127.0.0.1:${server().port}/`)
    expect(await server().query('SELECT @@log_bin AS logBin, @@binlog_format AS format')).toEqual([
      { logBin: 1, format: 'ROW' },
    ])

    const [status] = await server().query<{ File: string }>('SHOW MASTER STATUS')
    await server().createDatabase('logged')
    await server().query('CREATE TABLE items (id int PRIMARY KEY, name text)', undefined, 'logged')
    await server().query('INSERT INTO items VALUES (?, ?)', [1, 'first'], 'logged')
    const events = await server().query<{ Event_type: string; Info: string }>(`SHOW BINLOG EVENTS IN '${status!.File}'`)
    expect(events).toContainEqual(
      expect.objectContaining({ Event_type: 'Table_map', Info: expect.stringMatching(/\(logged\.items\)$/) }),
    )
    expect(events.map((event) => event.Event_type)).toContain('Write_rows_v1')
  })

  test('passes extra settings to the server', async () => {
    expect(await server().query('SELECT @@max_connections AS maxConnections')).toEqual([{ maxConnections: 42 }])
  })

  test('createDatabase makes a database that its URL and query() reach', async () => {
    const url = await server().createDatabase('helper_app')
    expect(url).toBe(`mysql://root@127.0.0.1:${server().port}/helper_app`)
    expect(url).toBe(server().urlOf('helper_app'))

    // Several statements in one call: the last one's rows come back.
    const rows = await server().query(
      `CREATE TABLE notes (id int, body text); INSERT INTO notes VALUES (1, 'hello'); SELECT DATABASE() AS db`,
      undefined,
      'helper_app',
    )
    expect(rows).toEqual([{ db: 'helper_app' }])
    // A statement without rows gives none.
    expect(await server().query('DELETE FROM notes WHERE id = ?', [2], 'helper_app')).toEqual([])

    const connection = await mysql.createConnection(url)
    try {
      const [notes] = await connection.query('SELECT id, body FROM notes WHERE id = ?', [1])
      expect(notes).toEqual([{ id: 1, body: 'hello' }])
    } finally {
      await connection.end()
    }
  })

  test('createUser makes a passwordless user with the grants asked for, and no more', async () => {
    const replicator = await server().createUser('replicator', 'REPLICATION SLAVE, REPLICATION CLIENT, SELECT')
    expect(replicator).toBe(`mysql://replicator@127.0.0.1:${server().port}/`)
    const reader = await server().createUser('reader', 'SELECT')

    const asReplicator = await mysql.createConnection(replicator)
    onTestFinished(() => asReplicator.end())
    const [account] = await asReplicator.query<RowDataPacket[]>('SELECT CURRENT_USER() AS account')
    expect(account).toEqual([{ account: 'replicator@%' }])
    const [status] = await asReplicator.query<RowDataPacket[]>('SHOW MASTER STATUS')
    expect(status).toEqual([expect.objectContaining({ File: expect.stringMatching(/^binlog\.\d+$/) })])

    const asReader = await mysql.createConnection(reader)
    onTestFinished(() => asReader.end())
    const [one] = await asReader.query<RowDataPacket[]>('SELECT 1 AS one')
    expect(one).toEqual([{ one: 1 }])
    await expect(asReader.query('SHOW MASTER STATUS')).rejects.toMatchObject({
      code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
      message: expect.stringMatching(/^Access denied/),
    })
  })
})

describe('startMariadb', () => {
  test('kill() ends the server as a crash would; restart() brings its data back on the same port', async () => {
    const server = disposeAfterTest(await startMariadb())
    const dataDir = await remember(server)
    const port = server.port
    const url = await server.createDatabase('crash')
    await server.query('CREATE TABLE survivors (id int PRIMARY KEY, name text)', undefined, 'crash')
    await server.query('INSERT INTO survivors VALUES (?, ?)', [1, 'committed before the crash'], 'crash')
    const held = await mysql.createConnection(url)
    held.on('error', () => {})
    onTestFinished(() => held.destroy())

    await server.kill()
    expect(server.running).toBe(false)
    expect(await acceptsConnections(port)).toBe(false)
    await expect(server.query('SELECT 1')).rejects.toThrow()
    await expect(held.query('SELECT 1')).rejects.toThrow()
    // Kept for crash recovery.
    expect(existsSync(join(dataDir, 'crash', 'survivors.frm'))).toBe(true)

    await server.restart()
    expect(server.running).toBe(true)
    expect(server.port).toBe(port)
    expect(await server.query('SELECT id, name FROM survivors', undefined, 'crash')).toEqual([
      { id: 1, name: 'committed before the crash' },
    ])
    expect(await server.query('SELECT @@log_bin AS logBin, @@binlog_format AS format')).toEqual([
      { logBin: 1, format: 'ROW' },
    ])
    await expect(server.restart()).rejects.toThrow(/still running/)
  })

  test('stop() ends the server, frees the port and removes the dir; a second stop() does nothing', async () => {
    const server = disposeAfterTest(await startMariadb())
    const dataDir = await remember(server)
    const pid = serverPidOf(dataDir)
    expect(processesIn(dataDir)).toEqual([pid])

    await server.stop()
    expect(server.running).toBe(false)
    expect(isProcessAlive(pid)).toBe(false)
    expect(await acceptsConnections(server.port)).toBe(false)
    expect(existsSync(dirname(dataDir))).toBe(false)

    await server.stop()
    await expect(server.restart()).rejects.toThrow(/was stopped/)
  })

  test('servers started together get different ports and separate data', async () => {
    const [first, second] = await Promise.all(
      [startMariadb(), startMariadb()].map((start) => start.then(disposeAfterTest)),
    )
    const dataDirs = [await remember(first!), await remember(second!)]
    expect(first!.port).not.toBe(second!.port)
    expect(dataDirs[0]).not.toBe(dataDirs[1])

    await first!.createDatabase('only_in_first')
    const present = `SELECT COUNT(*) AS found FROM information_schema.schemata WHERE schema_name = 'only_in_first'`
    expect(await first!.query(present)).toEqual([{ found: 1 }])
    expect(await second!.query(present)).toEqual([{ found: 0 }])
  })

  test('dies with the process that started it, even one killed without cleanup', async () => {
    await servers.expectToDieWithOwner(
      new URL('./mariadb-server.ts', import.meta.url),
      `const server = await helper.startMariadb()
       const [{ dataDir }] = await server.query('SELECT @@datadir AS dataDir')
       const pid = Number(readFileSync(dataDir + '../mysqld.pid', 'utf8'))
       return { pid, dir: dirname(dataDir), port: server.port }`,
    )
  })
})

/** The data dir, without the trailing slash @@datadir has. */
async function dataDirectoryOf(server: MariadbServer): Promise<string> {
  const [row] = await server.query<{ dataDir: string }>('SELECT @@datadir AS dataDir')
  return row!.dataDir.replace(/\/$/, '')
}

// The helper puts the pid file next to the data dir.
function serverPidOf(dataDir: string): number {
  return Number(readFileSync(join(dirname(dataDir), 'mysqld.pid'), 'utf8'))
}
