import { isPlainObject } from '../../src/scoped-settings.js'
import { isSingleRowWrite } from './operations.js'
import { keyFromRecord, keyFromWhere } from './primary-key.js'
import type { RelationGraph, RelationInfo } from './relations.js'
import { modelRowsTag, modelRowTag, modelTag, wholeModelTags } from './tag-names.js'

/** Nested operations that only link or unlink existing rows. */
const LINKING = new Set(['connect', 'disconnect', 'set'])
const UPDATING = new Set(['update', 'updateMany'])
const DELETING = new Set(['delete', 'deleteMany'])
/** Where a nested operation's own nested data sits (`upsert: { create, update }`, `update: { where, data }`…). */
const NESTED_DATA_KEYS = ['data', 'create', 'update'] as const

/**
 * The tags a write invalidates: never fewer than the rows it could have
 * changed. Always the model tag (lists, counts, aggregates); the row tag of
 * the one row a single-row write names, or `#rows` when the rows are unknown;
 * every model a nested write reaches; every model a referential action
 * (`onDelete`/`onUpdate` Cascade, SetNull, SetDefault) can change, wholesale.
 * `result` is undefined when the write failed: the tags then come from `args` alone.
 */
export function writeTags(
  graph: RelationGraph,
  model: string,
  operation: string,
  args: unknown,
  result: unknown,
): string[] {
  const tags = new Set<string>([modelTag(graph, model)])
  const input = isPlainObject(args) ? args : {}
  const updateData = operation === 'upsert' ? input.update : operation.startsWith('update') ? input.data : undefined
  addRowTags(graph, model, operation, input, updateData, result, tags)

  if (operation.startsWith('delete')) addModels(graph, tags, graph.affectedByDelete(model))
  if (updateData !== undefined)
    addModels(graph, tags, graph.affectedByUpdate(model, scalarKeys(graph, model, updateData)))

  const createData = operation === 'upsert' ? input.create : operation.startsWith('create') ? input.data : undefined
  collectNested(graph, model, createData, tags)
  collectNested(graph, model, updateData, tags)
  return [...tags].sort()
}

/** Every model, wholesale: for writes whose effect cannot be read from their arguments (raw SQL). */
export function allModelTags(graph: RelationGraph): string[] {
  return graph.modelNames.flatMap((model) => wholeModelTags(graph, model)).sort()
}

function addRowTags(
  graph: RelationGraph,
  model: string,
  operation: string,
  input: Record<string, unknown>,
  updateData: unknown,
  result: unknown,
  tags: Set<string>,
): void {
  const info = graph.model(model)
  const primaryKey = info?.primaryKey
  // A write that changes a primary key moves a row away from the key a cached read used.
  const movesKey =
    primaryKey !== undefined && isPlainObject(updateData) && primaryKey.some((field) => field.name in updateData)
  if (info === undefined || !isSingleRowWrite(operation) || movesKey) {
    tags.add(modelRowsTag(graph, model))
    return
  }
  const keys = [operation === 'create' ? undefined : keyFromWhere(info, input.where), keyFromRecord(info, result)]
  let found = false
  for (const key of keys) {
    if (key === undefined) continue
    tags.add(modelRowTag(graph, model, key))
    found = true
  }
  if (!found) tags.add(modelRowsTag(graph, model))
}

/** Relation writes inside `data`, at any depth. */
function collectNested(graph: RelationGraph, model: string, data: unknown, tags: Set<string>): void {
  if (Array.isArray(data)) {
    for (const item of data) collectNested(graph, model, item, tags)
    return
  }
  if (!isPlainObject(data)) return
  const relations = graph.model(model)?.relations
  if (relations === undefined) return
  for (const [field, operations] of Object.entries(data)) {
    const relation = relations.get(field)
    if (relation === undefined || !isPlainObject(operations)) continue
    for (const [nestedOperation, payload] of Object.entries(operations)) {
      nestedOperationTags(graph, model, relation, nestedOperation, payload, tags)
      // Nested data goes deeper; reading a payload as data when it is not only adds tags.
      for (const item of Array.isArray(payload) ? payload : [payload]) {
        collectNested(graph, relation.target, item, tags)
        if (!isPlainObject(item)) continue
        for (const key of NESTED_DATA_KEYS) collectNested(graph, relation.target, item[key], tags)
      }
    }
  }
}

function nestedOperationTags(
  graph: RelationGraph,
  model: string,
  relation: RelationInfo,
  operation: string,
  payload: unknown,
  tags: Set<string>,
): void {
  const target = relation.target
  if (LINKING.has(operation)) {
    if (relation.isImplicitManyToMany) {
      // Only join-table rows change; reads across the relation carry both models' tags.
      tags.add(modelTag(graph, target))
    } else if (relation.holdsForeignKey) {
      // Only this side's key column changes, on a row the enclosing write already tags; in a
      // one-to-one, the row of this model that pointed at the target before is unlinked too.
      if (relation.isOneToOne) addModels(graph, tags, [model])
    } else {
      addModels(graph, tags, [target])
    }
    return
  }
  addModels(graph, tags, [target])
  if (DELETING.has(operation)) addModels(graph, tags, graph.affectedByDelete(target))
  if (UPDATING.has(operation)) {
    const changed = new Set<string>()
    for (const item of Array.isArray(payload) ? payload : [payload]) {
      if (!isPlainObject(item)) continue
      for (const key of scalarKeys(graph, target, item)) changed.add(key)
      for (const key of scalarKeys(graph, target, item.data)) changed.add(key)
    }
    addModels(graph, tags, graph.affectedByUpdate(target, changed))
  }
}

function scalarKeys(graph: RelationGraph, model: string, data: unknown): string[] {
  if (!isPlainObject(data)) return []
  const relations = graph.model(model)?.relations
  return Object.keys(data).filter((key) => !relations?.has(key))
}

/** Adds each model's tags, wholesale: which of their rows changed is unknown. */
function addModels(graph: RelationGraph, tags: Set<string>, models: Iterable<string>): void {
  for (const model of models) for (const tag of wholeModelTags(graph, model)) tags.add(tag)
}
