// Proves the private PostgreSQL helper gives what logical replication and
// crash tests rely on, and that nothing it starts outlives the test, or the
// process, that started it.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import pg from 'pg'
import { describe, expect, onTestFinished, test } from 'vitest'
import { disposeAfterTest, useResource } from './lifecycle.js'
import { type PostgresServer, startPostgres } from './postgres-server.js'
import { acceptsConnections, isProcessAlive, useServerChecks } from './server-checks.js'
import { processesIn } from './server-process.js'

const servers = useServerChecks()

async function remember(server: PostgresServer): Promise<string> {
  const dataDir = await dataDirectoryOf(server)
  servers.remember({ dir: dirname(dataDir), ports: [server.port] })
  return dataDir
}

describe('a server started for a block of tests', () => {
  const server = useResource(() => startPostgres({ settings: { work_mem: '7MB' } }))

  test('serves logical decoding, which the shared server on 5432 cannot', async () => {
    await remember(server())
    expect(server().url).toBe(`postgresql://postgres@127.0.0.1:${server().port}/postgres`)
    expect(await server().query('SHOW wal_level')).toEqual([{ wal_level: 'logical' }])

    await server().query('CREATE TABLE decoded (id int PRIMARY KEY, name text)')
    await server().query(`SELECT pg_create_logical_replication_slot('helper_test', 'test_decoding')`)
    try {
      await server().query('INSERT INTO decoded VALUES ($1, $2)', [1, 'first'])
      const changes = await server().query<{ data: string }>(
        `SELECT data FROM pg_logical_slot_get_changes('helper_test', NULL, NULL)`,
      )
      expect(changes.map((change) => change.data)).toContain(
        `table public.decoded: INSERT: id[integer]:1 name[text]:'first'`,
      )
    } finally {
      await server().query(`SELECT pg_drop_replication_slot('helper_test')`)
    }
  })

  test('passes extra settings to the server', async () => {
    expect(await server().query('SHOW work_mem')).toEqual([{ work_mem: '7MB' }])
  })

  test('createDatabase makes a database that its URL and query() reach', async () => {
    const url = await server().createDatabase('helper_app')
    expect(url).toBe(`postgresql://postgres@127.0.0.1:${server().port}/helper_app`)
    expect(url).toBe(server().urlOf('helper_app'))

    // Several statements in one call: the last one's rows come back.
    const rows = await server().query(
      `CREATE TABLE notes (id int, body text); INSERT INTO notes VALUES (1, 'hello'); SELECT current_database() AS db`,
      undefined,
      'helper_app',
    )
    expect(rows).toEqual([{ db: 'helper_app' }])

    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const { rows: notes } = await client.query('SELECT id, body FROM notes WHERE id = $1', [1])
      expect(notes).toEqual([{ id: 1, body: 'hello' }])
    } finally {
      await client.end()
    }
    const [owner] = await server().query<{ owner: string }>(
      'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
      ['helper_app'],
    )
    expect(owner).toEqual({ owner: 'postgres' })
  })
})

describe('startPostgres', () => {
  test('kill() ends the server as a crash would; restart() brings its data back on the same port', async () => {
    const server = disposeAfterTest(await startPostgres())
    const dataDir = await remember(server)
    const port = server.port
    await server.query('CREATE TABLE survivors (id int PRIMARY KEY, name text)')
    await server.query('INSERT INTO survivors VALUES ($1, $2)', [1, 'committed before the crash'])
    const held = new pg.Client({ connectionString: server.url })
    held.on('error', () => {})
    await held.connect()
    onTestFinished(() => held.end())

    await server.kill()
    expect(server.running).toBe(false)
    expect(await acceptsConnections(port)).toBe(false)
    await expect(server.query('SELECT 1')).rejects.toThrow()
    await expect(held.query('SELECT 1')).rejects.toThrow()
    // Kept for crash recovery.
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true)

    await server.restart()
    expect(server.running).toBe(true)
    expect(server.port).toBe(port)
    expect(await server.query('SELECT id, name FROM survivors')).toEqual([
      { id: 1, name: 'committed before the crash' },
    ])
    expect(await server.query('SHOW wal_level')).toEqual([{ wal_level: 'logical' }])
    await expect(server.restart()).rejects.toThrow(/still running/)
  })

  test('stop() ends every process, frees the port and removes the dir; a second stop() does nothing', async () => {
    const server = disposeAfterTest(await startPostgres())
    const dataDir = await remember(server)
    const pids = [
      postmasterPidOf(dataDir),
      // Every backend and background process (checkpointer, walwriter...) has a row; this query's ends with it.
      ...(await server.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()')).map(
        (row) => row.pid,
      ),
    ]
    expect(pids.length).toBeGreaterThan(3)
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(true)

    await server.stop()
    expect(server.running).toBe(false)
    for (const pid of pids) expect(isProcessAlive(pid), `pid ${pid}`).toBe(false)
    expect(await acceptsConnections(server.port)).toBe(false)
    expect(existsSync(dirname(dataDir))).toBe(false)

    await server.stop()
    await expect(server.restart()).rejects.toThrow(/was stopped/)
  })

  test('stop() after kill() frees what the crash left: processes, shared memory and dir', async () => {
    const server = disposeAfterTest(await startPostgres())
    const dataDir = await remember(server)
    const segment = sharedMemoryIdOf(dataDir)
    expect(sharedMemorySegments()).toContain(segment)

    await server.kill()
    // A SIGKILLed postmaster cannot free its segment: a restart would, and so must stop().
    expect(sharedMemorySegments()).toContain(segment)

    await server.stop()
    expect(processesIn(dataDir)).toEqual([])
    expect(sharedMemorySegments()).not.toContain(segment)
    expect(existsSync(dirname(dataDir))).toBe(false)
  })

  test('servers started together get different ports and separate data', async () => {
    const [first, second] = await Promise.all(
      [startPostgres(), startPostgres()].map((start) => start.then(disposeAfterTest)),
    )
    const dataDirs = [await remember(first!), await remember(second!)]
    expect(first!.port).not.toBe(second!.port)
    expect(dataDirs[0]).not.toBe(dataDirs[1])

    await first!.query('CREATE TABLE only_in_first (id int)')
    expect(await first!.query(`SELECT to_regclass('only_in_first')::text AS found`)).toEqual([
      { found: 'only_in_first' },
    ])
    expect(await second!.query(`SELECT to_regclass('only_in_first')::text AS found`)).toEqual([{ found: null }])
  })

  test('dies with the process that started it, even one killed without cleanup', async () => {
    await servers.expectToDieWithOwner(
      new URL('./postgres-server.ts', import.meta.url),
      `const server = await helper.startPostgres()
       const [{ data_directory: dataDir }] = await server.query('SHOW data_directory')
       const pid = Number(readFileSync(dataDir + '/postmaster.pid', 'utf8').split('\\n')[0])
       return { pid, dir: dirname(dataDir), port: server.port }`,
    )
  })
})

async function dataDirectoryOf(server: PostgresServer): Promise<string> {
  const [row] = await server.query<{ data_directory: string }>('SHOW data_directory')
  return row!.data_directory
}

// postmaster.pid: the postmaster's pid on line 1, its shared memory segment's key and id on line 7.
function postmasterPidOf(dataDir: string): number {
  return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
}

function sharedMemoryIdOf(dataDir: string): string {
  return readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[6]!.trim().split(/\s+/)[1]!
}

function sharedMemorySegments(): string[] {
  const lines = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n').slice(1)
  return lines.map((line) => line.trim().split(/\s+/)[1]!)
}
