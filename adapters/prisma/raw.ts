import { wholeTableTags } from '../../src/table-tags.js'
import { analyzeSql } from '../sql/effect.js'
import type { RelationGraph } from './relations.js'
import { modelTag, wholeModelTags } from './tag-names.js'
import { allModelTags } from './write-tags.js'

/**
 * The tags a raw operation invalidates; undefined when it cannot write (one
 * plain SELECT through `$queryRaw*`). A statement naming its tables
 * (INSERT/UPDATE/DELETE/TRUNCATE/MERGE/ALTER TABLE) invalidates the models of
 * those tables wholesale, plus the models its referential actions can change;
 * an implicit many-to-many join table invalidates both linked models' reads
 * across the relation. Anything else invalidates every model: several
 * statements, writing CTEs, procedure calls, a SELECT run through
 * `$executeRaw` (for a side effect), `$runCommandRaw`, text it cannot read. A
 * table the schema does not know invalidates its own tags only (another ORM's
 * reads of it); writes that triggers or functions make are not seen.
 */
export function rawWriteTags(graph: RelationGraph, operation: string, args: unknown): string[] | undefined {
  const sql = operation === '$runCommandRaw' ? undefined : sqlText(args)
  if (sql === undefined) return allModelTags(graph)
  const effect = analyzeSql(sql)
  if (effect.kind === 'read') return operation.startsWith('$queryRaw') ? undefined : allModelTags(graph)
  if (effect.kind === 'all') return allModelTags(graph)
  const tags = new Set<string>()
  for (const written of effect.tables) {
    // The table's own tags, whatever models it holds: reads of it through TypeORM on the same prefix.
    for (const tag of wholeTableTags(written.name)) tags.add(tag)
    const table = graph.table(written.name)
    if (table === undefined) {
      // Without the parsed schema, which tables join implicit many-to-many relations is unknown.
      if (!graph.precise && written.name.startsWith('_')) return allModelTags(graph)
      continue
    }
    for (const model of table.links) tags.add(modelTag(graph, model))
    for (const model of table.models) {
      const affected = [model]
      if (written.change === 'write')
        affected.push(...graph.affectedByDelete(model), ...graph.affectedByAnyUpdate(model))
      for (const name of affected) for (const tag of wholeModelTags(graph, name)) tags.add(tag)
    }
  }
  return [...tags].sort()
}

/** `$queryRaw` passes a `Sql` object (`strings`), `$queryRawUnsafe` an array, `$queryRawTyped` a `TypedSql` (`sql`). */
export function sqlText(args: unknown): string | undefined {
  if (Array.isArray(args)) return typeof args[0] === 'string' ? args[0] : undefined
  if (args === null || typeof args !== 'object') return undefined
  const candidate = args as { strings?: unknown; sql?: unknown }
  if (Array.isArray(candidate.strings) && candidate.strings.every((part) => typeof part === 'string')) {
    // Each value becomes a placeholder: it is bound, never part of the statement's text.
    return candidate.strings.join(' ? ')
  }
  return typeof candidate.sql === 'string' ? candidate.sql : undefined
}
