import { createHash } from 'node:crypto'
import { SchemaParseError } from '../../src/errors.js'
import { CHANNELS } from '../../src/events.js'
import { type ParsedModel, parseSchema } from './schema-parser.js'

/** The `code` of the process warning a schema fallback emits, for `process.on('warning')` filters. */
export const SCHEMA_FALLBACK_WARNING = 'ORMCACHE_SCHEMA_FALLBACK'

/** Schemas already warned about in this process (by hash): every client made from one would say the same. */
const warned = new Set<string>()

/**
 * The models of the schema text a client embeds, or undefined when it cannot
 * be read (not embedded, or beyond this parser). The relation graph then falls
 * back to coarser rules: a write invalidates every model it reaches through any
 * relation, and by-key reads get no row tags (fewer hits). Silent,
 * that would look like a slow cache, so it is said: on `ormcache:schema-fallback`
 * for every client, and as a process warning once per schema.
 */
export function readSchema(text: string | undefined, prefix: string): ParsedModel[] | undefined {
  let error: SchemaParseError
  try {
    if (text !== undefined) return parseSchema(text)
    error = new SchemaParseError('this Prisma Client embeds no schema text')
  } catch (thrown) {
    // The parser throws only SchemaParseError; anything else is a bug of ours, better seen than hidden.
    if (!(thrown instanceof SchemaParseError)) throw thrown
    error = thrown
  }
  if (CHANNELS.schemaFallback.hasSubscribers) CHANNELS.schemaFallback.publish({ prefix, error })
  const schemaHash = createHash('sha256')
    .update(text ?? '')
    .digest('base64url')
  if (!warned.has(schemaHash)) {
    warned.add(schemaHash)
    process.emitWarning(
      `${error.message}. ormcache/prisma falls back to coarser invalidation for this schema: a write invalidates ` +
        'every model related to the one it changes, reads by primary key get no row tags, and views cannot be told ' +
        'from tables (their reads are cached until their TTL). Counted in `$cache.stats().schemaFallbacks`.',
      { type: 'OrmCacheWarning', code: SCHEMA_FALLBACK_WARNING },
    )
  }
  return undefined
}
