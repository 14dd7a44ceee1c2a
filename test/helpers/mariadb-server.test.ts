// Proves the private MariaDB helper gives what binlog tests rely on, and that
// nothing it starts outlives the test, or the process, that started it.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { connect } from 'node:net'
import { dirname, join } from 'node:path'
import mysql, { type RowDataPacket } from 'mysql2/promise'
import { afterAll, describe, expect, onTestFinished, test } from 'vitest'
import { TYPESCRIPT_EXEC_ARGV, TYPESCRIPT_WORKER_START_MS } from '../fixtures/typescript-workers.js'
import { until, withDeadline } from '../fixtures/wait.js'
import { disposeAfterTest, useResource } from './lifecycle.js'
import { type MariadbServer, startMariadb } from './mariadb-server.js'

interface StartedServer {
  dataDir: string
  port: number
}

// Filled by each test, checked once every test's cleanup has run.
const started: StartedServer[] = []

async function remember(server: MariadbServer): Promise<string> {
  const dataDir = await dataDirectoryOf(server)
  started.push({ dataDir, port: server.port })
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
    // A stand-in for a test worker that vitest ends with a signal, running this helper as a test would.
    const owner = spawn(
      process.execPath,
      [
        ...TYPESCRIPT_EXEC_ARGV,
        '--input-type=module',
        '-e',
        `import { readFileSync } from 'node:fs'
         const { startMariadb } = await import(process.argv[1])
         const server = await startMariadb()
         const [{ dataDir }] = await server.query('SELECT @@datadir AS dataDir')
         const pid = Number(readFileSync(dataDir + '../mysqld.pid', 'utf8'))
         process.stdout.write(JSON.stringify({ port: server.port, dataDir: dataDir.slice(0, -1), pid }) + '\\n')
         setInterval(() => {}, 1000)`,
        new URL('./mariadb-server.ts', import.meta.url).href,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    onTestFinished(() => {
      owner.kill('SIGKILL')
    })
    const printed = new Promise<{ port: number; dataDir: string; pid: number }>((resolve) => {
      let output = ''
      owner.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('\n')) resolve(JSON.parse(output))
      })
    })
    const { port, dataDir, pid } = await withDeadline(
      printed,
      'the owner process to start a server',
      TYPESCRIPT_WORKER_START_MS,
    )
    started.push({ dataDir, port })
    expect(processesIn(dataDir)).toEqual([pid])

    // Even a server that a test has frozen.
    process.kill(pid, 'SIGSTOP')
    owner.kill('SIGKILL')
    await until(() => !isProcessAlive(pid), 'the orphaned server to die', 10_000)
    await until(() => !existsSync(dirname(dataDir)), 'its dir to be removed', 10_000)
    expect(await acceptsConnections(port)).toBe(false)
  })
})

afterAll(async () => {
  // Every test above disposed its servers when it finished, passed or failed.
  for (const { dataDir, port } of started) {
    expect(processesIn(dataDir), `processes still running in ${dataDir}`).toEqual([])
    expect(existsSync(dirname(dataDir)), `${dirname(dataDir)} still exists`).toBe(false)
    expect(await acceptsConnections(port), `port ${port} still open`).toBe(false)
  }
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

// mariadbd's working directory is its data dir.
function processesIn(dataDir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`) === dataDir
      } catch {
        return false
      }
    })
    .map(Number)
}

// A zombie (exited, not yet reaped) counts as dead: it holds no port and runs no code.
function isProcessAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
