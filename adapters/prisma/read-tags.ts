import { isPlainObject } from '../../src/scoped-settings.js'
import { isUniqueRead } from './operations.js'
import { keyFromWhere } from './primary-key.js'
import type { RelationGraph } from './relations.js'
import { modelRowsTag, modelRowTag, modelTag } from './tag-names.js'

const RELATION_FILTERS = ['some', 'every', 'none', 'is', 'isNot'] as const
const LOGICAL_OPERATORS = ['AND', 'OR', 'NOT'] as const

/**
 * The tags a read depends on. A read of one row by its primary key carries
 * that row's tag and the model's `#rows` tag; any other read carries the
 * model tag. Every related model the read touches — through `include`,
 * relation `select`, `_count`, relation filters or relation `orderBy` — adds
 * its model tag. Sorted, so equal queries give equal tag lists.
 */
export function readTags(graph: RelationGraph, model: string, operation: string, args: unknown): string[] {
  const tags = new Set<string>()
  const info = graph.model(model)
  const key =
    info !== undefined && isUniqueRead(operation) && isPlainObject(args) ? keyFromWhere(info, args.where) : undefined
  if (key === undefined) {
    tags.add(modelTag(graph, model))
  } else {
    tags.add(modelRowTag(graph, model, key))
    tags.add(modelRowsTag(graph, model))
  }
  collectArgs(graph, model, args, tags)
  return [...tags].sort()
}

/** Query arguments of `model` (top level, or those of an included relation). */
function collectArgs(graph: RelationGraph, model: string, args: unknown, tags: Set<string>): void {
  if (!isPlainObject(args)) return
  collectWhere(graph, model, args.where, tags)
  collectWhere(graph, model, args.cursor, tags)
  collectWhere(graph, model, args.having, tags)
  collectSelection(graph, model, args.include, tags)
  collectSelection(graph, model, args.select, tags)
  collectOrderBy(graph, model, args.orderBy, tags)
}

function collectWhere(graph: RelationGraph, model: string, where: unknown, tags: Set<string>): void {
  if (Array.isArray(where)) {
    for (const item of where) collectWhere(graph, model, item, tags)
    return
  }
  if (!isPlainObject(where)) return
  const relations = graph.model(model)?.relations
  for (const [field, value] of Object.entries(where)) {
    if ((LOGICAL_OPERATORS as readonly string[]).includes(field)) {
      collectWhere(graph, model, value, tags)
      continue
    }
    const relation = relations?.get(field)
    if (relation === undefined) continue
    tags.add(modelTag(graph, relation.target))
    if (!isPlainObject(value)) continue
    // `{ some: {…} }` and friends, or the shorthand `author: { name: … }` of a to-one filter.
    for (const filter of RELATION_FILTERS) collectWhere(graph, relation.target, value[filter], tags)
    collectWhere(graph, relation.target, value, tags)
  }
}

/** An `include` or a `select`: relations (with their own arguments) and `_count`. */
function collectSelection(graph: RelationGraph, model: string, selection: unknown, tags: Set<string>): void {
  if (!isPlainObject(selection)) return
  const info = graph.model(model)
  for (const [field, value] of Object.entries(selection)) {
    if (value === false || value === undefined) continue
    if (field === '_count') {
      collectCount(graph, model, value, tags)
      continue
    }
    const relation = info?.relations.get(field)
    if (relation === undefined) continue
    tags.add(modelTag(graph, relation.target))
    collectArgs(graph, relation.target, value, tags)
  }
}

/** `_count: true` counts every list relation; `_count: { select: { posts: … } }` the named ones. */
function collectCount(graph: RelationGraph, model: string, count: unknown, tags: Set<string>): void {
  const relations = graph.model(model)?.relations
  if (relations === undefined) return
  const select = isPlainObject(count) ? count.select : undefined
  if (!isPlainObject(select)) {
    for (const relation of relations.values()) if (relation.isList) tags.add(modelTag(graph, relation.target))
    return
  }
  for (const [field, value] of Object.entries(select)) {
    const relation = relations.get(field)
    if (relation === undefined || value === false || value === undefined) continue
    tags.add(modelTag(graph, relation.target))
    if (isPlainObject(value)) collectWhere(graph, relation.target, value.where, tags)
  }
}

function collectOrderBy(graph: RelationGraph, model: string, orderBy: unknown, tags: Set<string>): void {
  if (Array.isArray(orderBy)) {
    for (const item of orderBy) collectOrderBy(graph, model, item, tags)
    return
  }
  if (!isPlainObject(orderBy)) return
  const relations = graph.model(model)?.relations
  for (const [field, value] of Object.entries(orderBy)) {
    const relation = relations?.get(field)
    if (relation === undefined) continue
    tags.add(modelTag(graph, relation.target))
    collectOrderBy(graph, relation.target, value, tags)
  }
}
