/**
 * Just enough of a Prisma schema (PSL) parser to recover what Prisma 7 keeps
 * out of the client's runtime data model but cache invalidation needs: primary
 * keys, which side of a relation holds the foreign key, and the referential
 * actions (`onDelete`/`onUpdate`). The input is the schema text the generated
 * client embeds, so the user runs no extra step. Anything this parser does not
 * recognise makes it throw a `SchemaParseError`; the caller then falls back to
 * conservative rules (see schema-fallback.ts).
 */

import { SchemaParseError } from '../../src/errors.js'

export interface ParsedField {
  readonly name: string
  readonly type: string
  readonly isList: boolean
  readonly isOptional: boolean
  readonly isId: boolean
  /** The `@db.*` attribute's type (`Citext`, `VarChar`…), when there is one. */
  readonly nativeType: string | undefined
  /** Present on the side of a relation that declares `fields:` / `references:`. */
  readonly relation?: ParsedRelation
}

export interface ParsedRelation {
  readonly name: string | undefined
  readonly fields: readonly string[]
  readonly references: readonly string[]
  readonly onDelete: string | undefined
  readonly onUpdate: string | undefined
}

export interface ParsedModel {
  readonly name: string
  /** `view` blocks: read-only, and what they depend on is unknown. */
  readonly isView: boolean
  readonly fields: readonly ParsedField[]
  /** Field names of the primary key in declaration order; empty when the model has none. */
  readonly primaryKey: readonly string[]
  /** The name of the compound primary key in a `where` (`a_b`, or `@@id(name: …)`); undefined for a single field. */
  readonly primaryKeyName: string | undefined
}

type Token =
  | { readonly kind: 'word'; readonly value: string }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'punct'; readonly value: string }
  | { readonly kind: 'newline' }

/** Parses every `model` and `view` block; other blocks (enum, type, datasource, generator) are skipped. */
export function parseSchema(text: string): ParsedModel[] {
  const tokens = tokenize(text)
  const models: ParsedModel[] = []
  let i = 0
  while (i < tokens.length) {
    const token = tokens[i]!
    if (token.kind === 'newline') {
      i++
      continue
    }
    if (token.kind !== 'word') throw new SchemaParseError(`unexpected ${describe(token)} at top level`)
    const name = tokens[i + 1]
    const open = tokens[i + 2]
    if (name?.kind !== 'word' || open?.kind !== 'punct' || open.value !== '{') {
      throw new SchemaParseError(`expected a block after \`${token.value}\``)
    }
    const end = matchingBrace(tokens, i + 2)
    if (token.value === 'model' || token.value === 'view') {
      models.push(parseModel(name.value, token.value === 'view', tokens.slice(i + 3, end)))
    }
    i = end + 1
  }
  return models
}

function parseModel(name: string, isView: boolean, body: Token[]): ParsedModel {
  const fields: ParsedField[] = []
  let blockId: { fields: string[]; name: string | undefined } | undefined
  for (const line of splitLines(body)) {
    const first = line[0]!
    if (first.kind === 'punct' && first.value === '@@') {
      const attribute = parseAttribute(line, 0)
      if (attribute.name === 'id') {
        const fieldList = attribute.args.named.get('fields') ?? attribute.args.positional[0]
        blockId = {
          fields: asNameList(fieldList, `@@id of ${name}`),
          name: asOptionalString(attribute.args.named.get('name')),
        }
      }
      continue
    }
    fields.push(parseField(name, line))
  }
  const idFields = fields.filter((field) => field.isId).map((field) => field.name)
  if (idFields.length > 1) throw new SchemaParseError(`model ${name} has @id on more than one field`)
  const primaryKey = blockId?.fields ?? idFields
  const primaryKeyName = blockId === undefined ? undefined : (blockId.name ?? blockId.fields.join('_'))
  return { name, isView, fields, primaryKey, primaryKeyName }
}

function parseField(model: string, line: Token[]): ParsedField {
  const [nameToken, typeToken] = line
  if (nameToken?.kind !== 'word' || typeToken?.kind !== 'word') {
    throw new SchemaParseError(`cannot read a field of ${model}`)
  }
  let i = 2
  // Unsupported("…") carries its database type in parentheses.
  if (isPunct(line[i], '(')) i = matchingClose(line, i) + 1
  let isList = false
  let isOptional = false
  if (isPunct(line[i], '[') && isPunct(line[i + 1], ']')) {
    isList = true
    i += 2
  }
  if (isPunct(line[i], '?')) {
    isOptional = true
    i++
  }
  let isId = false
  let nativeType: string | undefined
  let relation: ParsedRelation | undefined
  while (i < line.length) {
    if (!isPunct(line[i], '@'))
      throw new SchemaParseError(`unexpected ${describe(line[i]!)} in ${model}.${nameToken.value}`)
    const attribute = parseAttribute(line, i)
    if (attribute.name === 'id') isId = true
    if (attribute.name === 'relation') relation = toRelation(attribute.args, `${model}.${nameToken.value}`)
    if (attribute.name.startsWith('db.')) nativeType = attribute.name.slice(3)
    i = attribute.end
  }
  return {
    name: nameToken.value,
    type: typeToken.value,
    isList,
    isOptional,
    isId,
    nativeType,
    ...(relation && { relation }),
  }
}

function toRelation(args: Arguments, where: string): ParsedRelation {
  const fields = args.named.get('fields')
  const references = args.named.get('references')
  return {
    name: asOptionalString(args.named.get('name') ?? args.positional[0]),
    fields: fields === undefined ? [] : asNameList(fields, `fields of ${where}`),
    references: references === undefined ? [] : asNameList(references, `references of ${where}`),
    onDelete: asOptionalWord(args.named.get('onDelete')),
    onUpdate: asOptionalWord(args.named.get('onUpdate')),
  }
}

// --- attributes and their arguments ---

/** An argument value, kept only as deep as the parser needs. */
type Value =
  | { readonly kind: 'word'; readonly value: string }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'list'; readonly items: readonly Value[] }
  | { readonly kind: 'call'; readonly name: string }
  | { readonly kind: 'other' }

interface Arguments {
  readonly positional: Value[]
  readonly named: Map<string, Value>
}

interface Attribute {
  readonly name: string
  readonly args: Arguments
  /** Index just past the attribute. */
  readonly end: number
}

/** `@name`, `@@name`, `@db.Type`, each optionally with `( arguments )`. */
function parseAttribute(tokens: Token[], start: number): Attribute {
  const nameToken = tokens[start + 1]
  if (nameToken?.kind !== 'word') throw new SchemaParseError('an attribute without a name')
  const args: Arguments = { positional: [], named: new Map() }
  const i = start + 2
  if (!isPunct(tokens[i], '(')) return { name: nameToken.value, args, end: i }
  const close = matchingClose(tokens, i)
  for (const part of splitTopLevel(tokens.slice(i + 1, close), ',')) {
    if (part.length === 0) continue
    const [first, second] = part
    if (first?.kind === 'word' && isPunct(second, ':')) args.named.set(first.value, parseValue(part.slice(2)))
    else args.positional.push(parseValue(part))
  }
  return { name: nameToken.value, args, end: close + 1 }
}

function parseValue(tokens: Token[]): Value {
  const first = tokens[0]
  if (tokens.length === 1 && first?.kind === 'word') return { kind: 'word', value: first.value }
  if (tokens.length === 1 && first?.kind === 'string') return { kind: 'string', value: first.value }
  if (isPunct(first, '[') && isPunct(tokens.at(-1), ']')) {
    const items = splitTopLevel(tokens.slice(1, -1), ',')
      .filter((item) => item.length > 0)
      .map(parseValue)
    return { kind: 'list', items }
  }
  // Function calls (`autoincrement()`) and fields with arguments (`name(length: 10)` in a MySQL index).
  if (first?.kind === 'word' && isPunct(tokens[1], '(')) return { kind: 'call', name: first.value }
  return { kind: 'other' }
}

function asNameList(value: Value | undefined, what: string): string[] {
  if (value?.kind !== 'list') throw new SchemaParseError(`${what} is not a list`)
  return value.items.map((item) => {
    if (item.kind === 'word') return item.value
    // `@@id([a, b(length: 10)])` on MySQL: the field is `b`.
    if (item.kind === 'call') return item.name
    throw new SchemaParseError(`${what} holds something other than field names`)
  })
}

function asOptionalString(value: Value | undefined): string | undefined {
  if (value === undefined) return undefined
  if (value.kind !== 'string') throw new SchemaParseError('a name that is not a string')
  return value.value
}

function asOptionalWord(value: Value | undefined): string | undefined {
  if (value === undefined) return undefined
  if (value.kind !== 'word') throw new SchemaParseError('a referential action that is not a word')
  return value.value
}

// --- token plumbing ---

function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const char = text[i]!
    if (char === '\n') {
      tokens.push({ kind: 'newline' })
      i++
    } else if (char === ' ' || char === '\t' || char === '\r') {
      i++
    } else if (char === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++
    } else if (char === '"') {
      let value = ''
      i++
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\') i++
        value += text[i] ?? ''
        i++
      }
      if (i >= text.length) throw new SchemaParseError('unterminated string')
      i++
      tokens.push({ kind: 'string', value })
    } else if (char === '@') {
      const double = text[i + 1] === '@'
      tokens.push({ kind: 'punct', value: double ? '@@' : '@' })
      i += double ? 2 : 1
    } else if ('{}()[],:?='.includes(char)) {
      tokens.push({ kind: 'punct', value: char })
      i++
    } else {
      const match = /^[A-Za-z0-9_.\-+]+/.exec(text.slice(i, i + 256))
      if (!match) throw new SchemaParseError(`unexpected character ${JSON.stringify(char)}`)
      tokens.push({ kind: 'word', value: match[0] })
      i += match[0].length
    }
  }
  return tokens
}

/** Lines of a block body: a newline ends a declaration unless it is inside brackets. */
function splitLines(tokens: Token[]): Token[][] {
  const lines: Token[][] = []
  let current: Token[] = []
  let depth = 0
  for (const token of tokens) {
    if (token.kind === 'newline' && depth === 0) {
      if (current.length > 0) lines.push(current)
      current = []
      continue
    }
    if (token.kind === 'newline') continue
    if (isPunct(token, '(') || isPunct(token, '[')) depth++
    if (isPunct(token, ')') || isPunct(token, ']')) depth--
    current.push(token)
  }
  if (current.length > 0) lines.push(current)
  return lines
}

function splitTopLevel(tokens: Token[], separator: string): Token[][] {
  const parts: Token[][] = [[]]
  let depth = 0
  for (const token of tokens) {
    if (token.kind === 'newline') continue
    if (isPunct(token, '(') || isPunct(token, '[')) depth++
    if (isPunct(token, ')') || isPunct(token, ']')) depth--
    if (depth === 0 && isPunct(token, separator)) parts.push([])
    else parts.at(-1)!.push(token)
  }
  return parts
}

function matchingBrace(tokens: Token[], open: number): number {
  let depth = 0
  for (let i = open; i < tokens.length; i++) {
    if (isPunct(tokens[i], '{')) depth++
    if (isPunct(tokens[i], '}') && --depth === 0) return i
  }
  throw new SchemaParseError('unbalanced braces')
}

function matchingClose(tokens: Token[], open: number): number {
  const opener = (tokens[open] as { value: string }).value
  const closer = opener === '(' ? ')' : ']'
  let depth = 0
  for (let i = open; i < tokens.length; i++) {
    if (isPunct(tokens[i], opener)) depth++
    if (isPunct(tokens[i], closer) && --depth === 0) return i
  }
  throw new SchemaParseError(`unbalanced ${opener}`)
}

function isPunct(token: Token | undefined, value: string): boolean {
  return token?.kind === 'punct' && token.value === value
}

function describe(token: Token): string {
  return token.kind === 'newline' ? 'line break' : `\`${token.value}\``
}
