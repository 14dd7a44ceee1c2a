// Read-your-writes across instances. A write's invalidation has a position on the bus (a counter
// in Redis, one per invalidation); each instance knows how far it has applied the bus. A request
// that carries the position of its session's last write (a token) and lands on an instance that has
// not applied it yet reads past that instance's memory: Redis is already right, since a write's
// invalidation reaches Redis before the write returns. Without the token, the next request of the
// same client may land on an instance whose memory still holds the value the write replaced, for
// the milliseconds the bus takes to reach it.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** Past this, a token is spent: the bus carries an invalidation in milliseconds, and one held up longer takes memory out of use anyway. */
const TOKEN_LIFETIME_MS = 5_000
/** Bounds on what a token from a client may hold: it names caches, and a client may send anything. */
const MAX_TOKEN_LENGTH = 1_024
const MAX_PREFIXES = 16
const PREFIX = /^[A-Za-z0-9_.-]{1,64}$/

/** A write's position on one cache prefix's bus, and when it was made. */
interface Written {
  readonly position: number
  readonly at: number
}

/**
 * What one session (a request, a job) has written, by cache prefix: the positions its reads must
 * not be served from behind.
 */
export class Session {
  readonly #written = new Map<string, Written>()
  #changed = false

  constructor(token: string | undefined, now: number) {
    if (token === undefined || token.length > MAX_TOKEN_LENGTH) return
    for (const part of token.split('!').slice(0, MAX_PREFIXES)) {
      const [prefix, position, at] = part.split('~')
      const written = { position: Number(position), at: Number(at) }
      if (prefix === undefined || !PREFIX.test(prefix) || !Number.isSafeInteger(written.position)) continue
      if (
        !Number.isSafeInteger(written.at) ||
        now - written.at > TOKEN_LIFETIME_MS ||
        written.at > now + TOKEN_LIFETIME_MS
      ) {
        continue
      }
      this.#written.set(prefix, written)
    }
  }

  wrote(prefix: string, position: number, now: number): void {
    const known = this.#written.get(prefix)
    if (known !== undefined && known.position >= position && known.at >= now - TOKEN_LIFETIME_MS) return
    this.#written.set(prefix, { position, at: now })
    this.#changed = true
  }

  /** The position this session's reads on `prefix` must not be served from behind, if any. */
  awaited(prefix: string, now: number): number | undefined {
    const written = this.#written.get(prefix)
    return written === undefined || now - written.at > TOKEN_LIFETIME_MS ? undefined : written.position
  }

  /** True when a write in this session moved a position: the token to hand back has changed. */
  get changed(): boolean {
    return this.#changed
  }

  toString(): string {
    return [...this.#written].map(([prefix, { position, at }]) => `${prefix}~${position}~${at}`).join('!')
  }
}

const sessions = new AsyncLocalStorage<Session>()

/** The session the caller runs in, if any: for the cache, which reads and advances it. */
export function currentSession(): Session | undefined {
  return sessions.getStore()
}

/**
 * Runs `work` as one session of reads and writes: its reads are never served from behind a write
 * whose position `token` carries (from `consistencyToken()` where the client wrote last), nor from
 * behind the session's own writes, whichever instance serves them.
 * @example const token = await withReadYourWrites(undefined, async () => { await save(); return consistencyToken() })
 */
export function withReadYourWrites<T>(token: string | undefined, work: () => T): T {
  return sessions.run(new Session(token, Date.now()), work)
}

/**
 * The current session's token: what to hand the client (or the next job) so its next request reads
 * its writes wherever it lands. Undefined outside a session, or before any write in it.
 */
export function consistencyToken(): string | undefined {
  const token = sessions.getStore()?.toString()
  return token === '' ? undefined : token
}

export interface ReadYourWritesOptions {
  /**
   * The cookie that carries the token between a client's requests; `false` for none (then send the
   * header back yourself, e.g. from a fetch wrapper).
   * @default 'ormcache-token'
   */
  cookie?: string | false
  /**
   * The request and response header that carries the token.
   * @default 'x-ormcache-token'
   */
  header?: string | false
}

/** The part of a Node request and response the middleware uses: Express, Nest (Express) and Connect give these. */
type Request = Pick<IncomingMessage, 'headers'>
type Response = Pick<ServerResponse, 'writeHead' | 'getHeader' | 'setHeader' | 'headersSent'>

/**
 * Middleware for Express, Nest (`app.use`) and Connect: each request runs as a session seeded with
 * the token its client sent (cookie or header), and a response after a write carries the new token,
 * so that client's next request reads its writes on any instance.
 * @example app.use(readYourWrites())
 */
export function readYourWrites(
  options: ReadYourWritesOptions = {},
): (request: Request, response: Response, next: () => void) => void {
  const cookie = options.cookie ?? 'ormcache-token'
  const header = options.header === false ? false : (options.header ?? 'x-ormcache-token').toLowerCase()
  return (request, response, next) => {
    const incoming =
      (header === false ? undefined : single(request.headers[header])) ??
      (cookie === false ? undefined : cookieValue(request.headers.cookie, cookie))
    const session = new Session(incoming, Date.now())
    // At the last moment headers can change: after the handler's writes, however it responds.
    const writeHead = response.writeHead
    response.writeHead = function (this: Response, ...args: Parameters<ServerResponse['writeHead']>) {
      if (session.changed && !response.headersSent) {
        const token = session.toString()
        if (header !== false) response.setHeader(header, token)
        if (cookie !== false) appendCookie(response, `${cookie}=${token}; Path=/; Max-Age=5; HttpOnly; SameSite=Lax`)
      }
      return writeHead.apply(this, args) as ServerResponse
    } as ServerResponse['writeHead']
    sessions.run(session, next)
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function cookieValue(cookies: string | undefined, name: string): string | undefined {
  for (const pair of cookies?.split(';') ?? []) {
    const separator = pair.indexOf('=')
    if (separator > 0 && pair.slice(0, separator).trim() === name) return pair.slice(separator + 1).trim()
  }
  return undefined
}

function appendCookie(response: Response, cookie: string): void {
  const existing = response.getHeader('set-cookie')
  const cookies = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)]
  response.setHeader('set-cookie', [...cookies, cookie])
}
