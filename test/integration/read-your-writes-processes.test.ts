// Two instances of an app, each its own process with its own memory tier, behind a round-robin
// proxy, as behind a load balancer: a client writes on one and reads back on the other at once.
// With the readYourWrites() middleware, no read-back returns the value its write replaced.
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { forkWatched, type WatchedChild } from '../fixtures/wait.js'
import { createPgSchema, type PgSchema } from '../helpers/databases.js'
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/prefix.js'
import { postgresUrl, redisUrl } from '../helpers/services.js'

const APP = fileURLToPath(new URL('../fixtures/rw-app.mjs', import.meta.url))
const ITEMS = 10
const SEQUENCES = 300

let schema: PgSchema
let databaseUrl: string
const apps: WatchedChild[] = []
let proxy: Server | undefined
const prefix = uniquePrefix('rw-processes')

beforeAll(async () => {
  schema = await createPgSchema('rw_processes')
  databaseUrl = await postgresUrl()
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(`CREATE TABLE "${schema.schema}".item (id int PRIMARY KEY, value text NOT NULL)`)
    await client.query(`INSERT INTO "${schema.schema}".item SELECT n, 'initial' FROM generate_series(1, ${ITEMS}) AS n`)
  } finally {
    await client.end()
  }
})

afterAll(async () => {
  for (const app of apps.splice(0)) app.process.kill()
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)))
  await schema?.drop()
  const admin = new Redis(await redisUrl())
  await deleteKeysWithPrefix(admin, prefix)
  admin.disconnect()
})

/** Starts an instance of the app and resolves to its port. */
async function startApp(sessions: boolean): Promise<number> {
  const config = { redisUrl: await redisUrl(), prefix, databaseUrl, schema: schema.schema, sessions }
  const app = forkWatched(`app instance ${apps.length + 1}`, APP, [JSON.stringify(config)])
  apps.push(app)
  const { port } = await app.nextMessage<{ port: number }>(`${app.name} to listen`, 30_000)
  return port
}

/** A proxy that sends each request to the next instance in turn; resolves to its port. */
async function roundRobin(ports: readonly number[]): Promise<number> {
  let next = 0
  proxy = createServer((incoming, outgoing) => {
    const port = ports[next++ % ports.length]
    const forwarded = httpRequest(
      { host: '127.0.0.1', port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(outgoing)
      },
    )
    forwarded.on('error', () => outgoing.destroy())
    incoming.pipe(forwarded)
  })
  await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve))
  return (proxy.address() as AddressInfo).port
}

/** A client that keeps the cookie the app hands it, as a browser would. */
function client(port: number) {
  let cookie = ''
  return async (method: 'GET' | 'POST', path: string): Promise<string> => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: cookie ? { cookie } : {} })
    const token = response.headers.getSetCookie().find((value) => value.startsWith('ormcache-token='))
    if (token !== undefined) cookie = token.split(';')[0] ?? ''
    const body = await response.text()
    expect(response.status, body).toBe(200)
    return body
  }
}

test('with the middleware, a write read back on the other instance at once is never the old value', async () => {
  const port = await roundRobin([await startApp(true), await startApp(true)])
  const send = client(port)
  const stale: string[] = []
  for (let sequence = 0; sequence < SEQUENCES; sequence++) {
    const id = (sequence % ITEMS) + 1
    // Through the proxy: the read on one instance (its memory now holds the value), the write on
    // the other, the read back on the first.
    await send('GET', `/item/${id}`)
    const written = await send('POST', `/item/${id}/v${sequence}`)
    const read = await send('GET', `/item/${id}`)
    if (read !== written) stale.push(`item ${id}: wrote ${written}, read ${read}`)
  }
  expect(stale).toEqual([])
}, 120_000)
