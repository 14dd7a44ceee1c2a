import { InvalidOptionError } from '../errors.js'

export interface ChangeStreamOptions {
  /**
   * The database whose committed changes invalidate the cache: a `postgres://` or `postgresql://`
   * URL (logical replication), or a `mysql://` or `mariadb://` URL with its database (the binlog).
   */
  url: string
  /**
   * PostgreSQL: a publication the app manages (create it as the tables' owner, `FOR TABLE …` or
   * `FOR ALL TABLES`). By default ormcache creates the publication `ormcache` and, each time a
   * consumer starts, sets it to every table PostgreSQL can stream changes of.
   */
  publication?: string
  /**
   * PostgreSQL: a durable replication slot of this name, made if missing, instead of a temporary
   * one per consumer. A consumer that takes over resumes where the last one confirmed, so nothing is
   * invalidated wholesale; but the slot holds WAL while no consumer reads it. Drop it with
   * `SELECT pg_drop_replication_slot('<name>')` when the app no longer runs.
   */
  slot?: string
}

export interface ResolvedChanges {
  readonly kind: 'postgres' | 'mysql'
  readonly url: string
  /** Host, port and database, no credentials: names the stream's consumer lease. */
  readonly database: string
  readonly publication: string
  readonly managedPublication: boolean
  /** A durable slot's name; undefined for a temporary slot per consumer. */
  readonly slot: string | undefined
}

const DEFAULT_PUBLICATION = 'ormcache'
const KNOWN = new Set(['url', 'publication', 'slot'])
// PostgreSQL's own rule for slot names.
const SLOT_NAME = /^[a-z0-9_]{1,63}$/

/** Checks `changes` at construction: what can be told without connecting fails here, naming the option. */
export function resolveChanges(changes: unknown): ResolvedChanges | undefined {
  if (changes === undefined) return undefined
  const options: Partial<ChangeStreamOptions> =
    typeof changes === 'string' ? { url: changes } : (changes as Partial<ChangeStreamOptions>)
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('changes', 'a postgres:// or mysql:// URL, or { url, publication, slot }', changes)
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(`changes.${key}`, `one of ${[...KNOWN].join(', ')}`, key)
  }
  const option = typeof changes === 'string' ? 'changes' : 'changes.url'
  if (typeof options.url !== 'string')
    throw new InvalidOptionError(option, 'a postgres:// or mysql:// URL', options.url)
  const { kind, url } = parseUrl(options.url, option)
  const publication = options.publication ?? DEFAULT_PUBLICATION
  if (typeof publication !== 'string' || publication.length === 0 || publication.length > 63) {
    throw new InvalidOptionError('changes.publication', 'a publication name (1 to 63 characters)', publication)
  }
  if (kind === 'mysql' && options.publication !== undefined) {
    throw new InvalidOptionError(
      'changes.publication',
      'absent for MySQL and MariaDB, which have no publications',
      publication,
    )
  }
  if (
    options.slot !== undefined &&
    (kind !== 'postgres' || typeof options.slot !== 'string' || !SLOT_NAME.test(options.slot))
  ) {
    throw new InvalidOptionError(
      'changes.slot',
      kind === 'postgres'
        ? 'a slot name of 1 to 63 characters from a-z 0-9 _'
        : 'absent for MySQL and MariaDB, which have no slots',
      options.slot,
    )
  }
  const database = decodeURIComponent(url.pathname.slice(1))
  if (kind === 'mysql' && database === '') {
    // A binlog holds every database of the server: the URL says which one the app's tables are in.
    throw new InvalidOptionError(
      option,
      'a mysql:// URL naming its database (mysql://user@host:3306/app)',
      'a URL without a database',
    )
  }
  return {
    kind,
    url: options.url,
    database: `${url.hostname}:${url.port || (kind === 'postgres' ? '5432' : '3306')}/${database || 'postgres'}`,
    publication,
    managedPublication: options.publication === undefined,
    slot: options.slot,
  }
}

const KINDS: Readonly<Record<string, ResolvedChanges['kind']>> = {
  postgres: 'postgres',
  postgresql: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
}

function parseUrl(value: string, option: string): { kind: ResolvedChanges['kind']; url: URL } {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase() ?? ''
  if (scheme === 'file' || scheme === 'sqlite') {
    throw new InvalidOptionError(
      option,
      'a postgres:// or mysql:// URL: SQLite has no change stream to follow',
      'a SQLite URL',
    )
  }
  const kind = KINDS[scheme]
  if (kind === undefined) {
    throw new InvalidOptionError(
      option,
      'a postgres://, postgresql://, mysql:// or mariadb:// URL',
      'another kind of URL',
    )
  }
  try {
    return { kind, url: new URL(value) }
  } catch {
    // Not shown: it may hold a password.
    throw new InvalidOptionError(option, `a well-formed ${scheme}:// URL`, 'a malformed URL')
  }
}
