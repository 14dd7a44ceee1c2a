import { InvalidOptionError } from '../errors.js'

export interface ChangeStreamOptions {
  /** The database whose committed changes invalidate the cache: a `postgres://` or `postgresql://` URL. */
  url: string
  /**
   * A publication the app manages (create it as the tables' owner, `FOR TABLE …` or `FOR ALL TABLES`).
   * By default ormcache creates the publication `ormcache` and, each time a consumer starts, sets
   * it to every table PostgreSQL can stream changes of.
   */
  publication?: string
}

export interface ResolvedChanges {
  readonly url: string
  /** Host, port and database, no credentials: names the stream's consumer lease. */
  readonly database: string
  readonly publication: string
  readonly managedPublication: boolean
}

const DEFAULT_PUBLICATION = 'ormcache'
const KNOWN = new Set(['url', 'publication'])

/** Checks `changes` at construction: what can be told without connecting fails here, naming the option. */
export function resolveChanges(changes: unknown): ResolvedChanges | undefined {
  if (changes === undefined) return undefined
  const options: Partial<ChangeStreamOptions> =
    typeof changes === 'string' ? { url: changes } : (changes as Partial<ChangeStreamOptions>)
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('changes', 'a postgres:// URL or { url, publication }', changes)
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(`changes.${key}`, `one of ${[...KNOWN].join(', ')}`, key)
  }
  const option = typeof changes === 'string' ? 'changes' : 'changes.url'
  if (typeof options.url !== 'string') throw new InvalidOptionError(option, 'a postgres:// URL', options.url)
  const url = parseUrl(options.url, option)
  const publication = options.publication ?? DEFAULT_PUBLICATION
  if (typeof publication !== 'string' || publication.length === 0 || publication.length > 63) {
    throw new InvalidOptionError('changes.publication', 'a publication name (1 to 63 characters)', publication)
  }
  return {
    url: options.url,
    database: `${url.hostname}:${url.port || '5432'}/${decodeURIComponent(url.pathname.slice(1)) || 'postgres'}`,
    publication,
    managedPublication: options.publication === undefined,
  }
}

function parseUrl(value: string, option: string): URL {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase()
  if (scheme === 'file' || scheme === 'sqlite') {
    throw new InvalidOptionError(option, 'a postgres:// URL: SQLite has no change stream to follow', 'a SQLite URL')
  }
  if (scheme === 'mysql' || scheme === 'mariadb') {
    throw new InvalidOptionError(
      option,
      'a postgres:// URL: following MySQL and MariaDB binlogs is not available yet',
      `a ${scheme}:// URL`,
    )
  }
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new InvalidOptionError(option, 'a postgres:// or postgresql:// URL', 'another kind of URL')
  }
  try {
    return new URL(value)
  } catch {
    // Not shown: it may hold a password.
    throw new InvalidOptionError(option, 'a well-formed postgres:// URL', 'a malformed URL')
  }
}
