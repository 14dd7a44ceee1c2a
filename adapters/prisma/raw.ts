/**
 * Whether a raw operation may write. Which tables a statement touches is not
 * worked out yet, so a raw write invalidates every model; this only tells
 * apart the statements that certainly do not write: one plain SELECT.
 * Anything else (`$executeRaw*`, `$runCommandRaw`, `WITH` that may modify
 * data, a `;` anywhere, a statement we cannot see) counts as a write. A
 * SELECT of a function that writes is not detected.
 */
export function rawMayWrite(operation: string, args: unknown): boolean {
  if (!operation.startsWith('$queryRaw')) return true
  const sql = sqlText(args)
  if (sql === undefined) return true
  const statement = sql.trim().replace(/;\s*$/, '')
  if (statement.includes(';')) return true
  const start = statement.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/, '')
  return !/^\(*\s*select\b/i.test(start)
}

/** `$queryRaw` passes a `Sql` object (`strings`), `$queryRawUnsafe` an array, `$queryRawTyped` a `TypedSql` (`sql`). */
function sqlText(args: unknown): string | undefined {
  if (Array.isArray(args)) return typeof args[0] === 'string' ? args[0] : undefined
  if (args === null || typeof args !== 'object') return undefined
  const candidate = args as { strings?: unknown; sql?: unknown }
  if (Array.isArray(candidate.strings) && candidate.strings.every((part) => typeof part === 'string')) {
    return candidate.strings.join(' $ ')
  }
  return typeof candidate.sql === 'string' ? candidate.sql : undefined
}
