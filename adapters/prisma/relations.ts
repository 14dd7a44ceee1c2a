import { compareColumnNames } from '../../src/table-tags.js'
import type { ParsedModel } from './schema-parser.js'

/** The slice of Prisma's runtime data model (`client._runtimeDataModel`) this adapter reads. */
export interface RuntimeDataModel {
  readonly models: Readonly<
    Record<string, { readonly fields: readonly RuntimeField[]; readonly dbName?: string | null }>
  >
}

export interface RuntimeField {
  readonly name: string
  /** The column's name where `@map` gives one. */
  readonly dbName?: string | null
  readonly kind: string
  readonly type: string
  readonly relationName?: string
}

export interface RelationInfo {
  readonly target: string
  /** This side is a list (`posts Post[]`). */
  readonly isList: boolean
  /** This model's table holds the foreign key columns. */
  readonly holdsForeignKey: boolean
  /** Both sides are lists and neither holds a key: Prisma keeps the pairs in a join table. */
  readonly isImplicitManyToMany: boolean
  /** Neither side is a list. */
  readonly isOneToOne: boolean
}

export interface PrimaryKeyField {
  readonly name: string
  readonly type: string
  /** Its column's name (`@map`), which orders a composite key's values in the row's tag. */
  readonly column: string
}

export interface ModelInfo {
  readonly name: string
  /** Its table's name (`@@map`, else the model's), which its tags are made of. */
  readonly table: string
  /** Views are never cached: which tables they read is not in the schema. */
  readonly isView: boolean
  readonly relations: ReadonlyMap<string, RelationInfo>
  /** Primary key fields whose values can name a row tag; undefined when rows cannot be told apart safely. */
  readonly primaryKey: readonly PrimaryKeyField[] | undefined
  /** The `where` key of a compound primary key (`a_b`). */
  readonly primaryKeyName: string | undefined
}

/** What a database table holds: rows of `models`, or the links between two models (an implicit many-to-many). */
export interface TableInfo {
  readonly models: readonly string[]
  readonly links: readonly string[]
}

/** A foreign key: rows of `child` point at rows of `parent`. */
interface ForeignKey {
  readonly parent: string
  readonly child: string
  readonly fields: readonly string[]
  readonly references: readonly string[]
  readonly onDelete: string
  readonly onUpdate: string
}

// Actions that change the child's rows; Restrict and NoAction make the parent's write fail instead.
const CHANGES_CHILD = new Set(['Cascade', 'SetNull', 'SetDefault'])
const ROW_TAG_TYPES = new Set(['Int', 'BigInt', 'String'])
// These compare strings case- and accent-insensitively by default: 'A' and 'a' can be the same row.
const CASE_INSENSITIVE_PROVIDERS = new Set(['mysql', 'sqlserver'])

/**
 * The relation graph of a client's schema: which model a relation field
 * reaches, and which models a delete or a key update changes through
 * referential actions. Built once per extended client.
 */
export class RelationGraph {
  readonly #models = new Map<string, ModelInfo>()
  readonly #foreignKeys: ForeignKey[] = []
  /** False when the schema text could not be read: every relation then counts as changing both sides. */
  readonly precise: boolean
  readonly #deleteEffects = new Map<string, ReadonlySet<string>>()
  /** By lower-cased table name: the databases fold unquoted names, and matching more tables only invalidates more. */
  readonly #tables = new Map<string, { models: Set<string>; links: Set<string> }>()
  readonly #scalarFields = new Map<string, readonly string[]>()

  constructor(runtime: RuntimeDataModel, parsed: readonly ParsedModel[] | undefined, provider: string) {
    this.precise = parsed !== undefined
    const parsedByName = new Map((parsed ?? []).map((model) => [model.name, model]))
    for (const [name, model] of Object.entries(runtime.models)) {
      const parsedModel = parsedByName.get(name)
      this.#models.set(name, {
        name,
        table: model.dbName ?? name,
        isView: parsedModel?.isView ?? false,
        relations: this.#relationsOf(name, model.fields, parsedModel, runtime, parsedByName),
        primaryKey: primaryKeyOf(model.fields, parsedModel, provider),
        primaryKeyName: parsedModel?.primaryKeyName,
      })
      this.#scalarFields.set(
        name,
        model.fields.filter((field) => field.kind !== 'object').map((field) => field.name),
      )
      this.#tableEntry(model.dbName ?? name).models.add(name)
    }
    for (const [name, model] of Object.entries(runtime.models)) {
      for (const field of model.fields) {
        const relation = this.#models.get(name)?.relations.get(field.name)
        if (relation?.isImplicitManyToMany && field.relationName !== undefined) {
          const links = this.#tableEntry(`_${field.relationName}`).links
          links.add(name)
          links.add(relation.target)
        }
      }
    }
  }

  #tableEntry(table: string): { models: Set<string>; links: Set<string> } {
    const key = table.toLowerCase()
    let entry = this.#tables.get(key)
    if (entry === undefined) {
      entry = { models: new Set(), links: new Set() }
      this.#tables.set(key, entry)
    }
    return entry
  }

  /**
   * The models a table of this schema holds (by `@@map` name or model name, case-insensitively),
   * and for an implicit many-to-many join table (`_PostToTag`) the two models it links.
   * Undefined for a table the schema does not know.
   */
  table(name: string): TableInfo | undefined {
    const entry = this.#tables.get(name.toLowerCase())
    return entry && { models: [...entry.models], links: [...entry.links] }
  }

  /** Models whose rows an update of any column of `model` rows can change through `onUpdate` actions. */
  affectedByAnyUpdate(model: string): ReadonlySet<string> {
    return this.#effects(model, new Set(this.#scalarFields.get(model) ?? []))
  }

  /** The table a model's rows are in, as its tags name it. */
  tableOf(model: string): string {
    return this.#models.get(model)?.table ?? model
  }

  get modelNames(): string[] {
    return [...this.#models.keys()]
  }

  model(name: string): ModelInfo | undefined {
    return this.#models.get(name)
  }

  /** Models whose rows a delete of `model` rows can change (cascades, set-null), transitively; may include `model`. */
  affectedByDelete(model: string): ReadonlySet<string> {
    let affected = this.#deleteEffects.get(model)
    if (affected === undefined) {
      affected = this.#effects(model, undefined)
      this.#deleteEffects.set(model, affected)
    }
    return affected
  }

  /** Models whose rows an update of `fields` of `model` rows can change through `onUpdate` actions. */
  affectedByUpdate(model: string, fields: Iterable<string>): ReadonlySet<string> {
    return this.#effects(model, new Set(fields))
  }

  #effects(model: string, updatedFields: ReadonlySet<string> | undefined): ReadonlySet<string> {
    const affected = new Set<string>()
    if (!this.precise) {
      // Without foreign keys and actions, anything connected may change.
      const pending = [model]
      while (pending.length > 0) {
        for (const relation of this.#models.get(pending.pop()!)?.relations.values() ?? []) {
          if (!affected.has(relation.target)) {
            affected.add(relation.target)
            pending.push(relation.target)
          }
        }
      }
      return affected
    }
    const seen = new Set<string>()
    const visit = (parent: string, fields: ReadonlySet<string> | undefined) => {
      const visitKey = `${parent}\u0000${fields === undefined ? '*delete*' : [...fields].sort().join(',')}`
      if (seen.has(visitKey)) return
      seen.add(visitKey)
      for (const key of this.#foreignKeys) {
        if (key.parent !== parent) continue
        const deleting = fields === undefined
        if (!deleting && !key.references.some((field) => fields.has(field))) continue
        const action = deleting ? key.onDelete : key.onUpdate
        if (!CHANGES_CHILD.has(action)) continue
        affected.add(key.child)
        if (deleting && action === 'Cascade') visit(key.child, undefined)
        else visit(key.child, new Set(key.fields))
      }
    }
    visit(model, updatedFields)
    return affected
  }

  #relationsOf(
    name: string,
    fields: readonly RuntimeField[],
    parsedModel: ParsedModel | undefined,
    runtime: RuntimeDataModel,
    parsedByName: ReadonlyMap<string, ParsedModel>,
  ): Map<string, RelationInfo> {
    const relations = new Map<string, RelationInfo>()
    for (const field of fields) {
      if (field.kind !== 'object' || runtime.models[field.type] === undefined) continue
      const parsedField = parsedModel?.fields.find((candidate) => candidate.name === field.name)
      // The other side: the target's field of the same relation (in a self-relation, the other field).
      const otherName = runtime.models[field.type]?.fields.find(
        (candidate) =>
          candidate.kind === 'object' &&
          candidate.relationName === field.relationName &&
          !(field.type === name && candidate.name === field.name),
      )?.name
      const otherSide = parsedByName.get(field.type)?.fields.find((candidate) => candidate.name === otherName)
      const holdsForeignKey = (parsedField?.relation?.fields.length ?? 0) > 0
      const isList = parsedField?.isList ?? true
      const otherIsList = otherSide?.isList ?? true
      const otherHoldsKey = (otherSide?.relation?.fields.length ?? 0) > 0
      relations.set(field.name, {
        target: field.type,
        isList,
        // Unknown without the parsed schema: then the target counts as holding the key, which invalidates more.
        holdsForeignKey,
        isImplicitManyToMany: parsedField !== undefined && isList && otherIsList && !holdsForeignKey && !otherHoldsKey,
        isOneToOne: parsedField !== undefined && !isList && !otherIsList,
      })
      if (parsedField?.relation && holdsForeignKey) {
        const relation = parsedField.relation
        this.#foreignKeys.push({
          parent: field.type,
          child: name,
          fields: relation.fields,
          references: relation.references,
          // Prisma's defaults: optional relations set null on delete, required ones restrict; updates cascade.
          onDelete: relation.onDelete ?? (parsedField.isOptional ? 'SetNull' : 'Restrict'),
          onUpdate: relation.onUpdate ?? 'Cascade',
        })
      }
    }
    return relations
  }
}

function primaryKeyOf(
  fields: readonly RuntimeField[],
  parsedModel: ParsedModel | undefined,
  provider: string,
): readonly PrimaryKeyField[] | undefined {
  if (parsedModel === undefined || parsedModel.primaryKey.length === 0) return undefined
  const key: PrimaryKeyField[] = []
  for (const name of parsedModel.primaryKey) {
    const field = fields.find((candidate) => candidate.name === name)
    const type = field?.type
    if (type === undefined || !ROW_TAG_TYPES.has(type)) return undefined
    if (type === 'String') {
      const nativeType = parsedModel.fields.find((field) => field.name === name)?.nativeType
      if (CASE_INSENSITIVE_PROVIDERS.has(provider) || nativeType === 'Citext') return undefined
    }
    key.push({ name, type, column: field?.dbName ?? name })
  }
  // As the tag vocabulary orders a composite key (src/table-tags.ts), whatever order `@@id` gives.
  return key.sort((a, b) => compareColumnNames(a.column, b.column))
}
