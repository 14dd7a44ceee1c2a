// The schema reading that row tags and referential actions rest on: the
// parser on the test schema and on the corners of PSL, the relation graph
// built from it, and the Prisma internals the adapter reads at runtime.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { readTags } from '../../../adapters/prisma/read-tags.js'
import { RelationGraph, type RuntimeDataModel } from '../../../adapters/prisma/relations.js'
import { parseSchema } from '../../../adapters/prisma/schema-parser.js'
import { modelRowsTag, modelRowTag, modelTag } from '../../../adapters/prisma/tag-names.js'
import { writeTags } from '../../../adapters/prisma/write-tags.js'
import { SchemaParseError } from '../../../src/errors.js'

const TEST_SCHEMA = readFileSync(new URL('./schema.prisma', import.meta.url), 'utf8')

describe('parseSchema', () => {
  test('reads keys, relations and referential actions of the test schema', () => {
    const models = parseSchema(TEST_SCHEMA)
    expect(models.map((model) => model.name)).toEqual([
      'User',
      'Post',
      'Profile',
      'Group',
      'Membership',
      'Tag',
      'Sample',
    ])
    const post = models.find((model) => model.name === 'Post')!
    expect(post.primaryKey).toEqual(['id'])
    expect(post.fields.find((field) => field.name === 'author')?.relation).toEqual({
      name: undefined,
      fields: ['authorId'],
      references: ['id'],
      onDelete: 'Cascade',
      onUpdate: undefined,
    })
    const tags = post.fields.find((field) => field.name === 'tags')
    expect(tags).toMatchObject({ isList: true })
    expect(tags?.relation).toBeUndefined()
    const profile = models.find((model) => model.name === 'Profile')!
    expect(profile.fields.find((field) => field.name === 'user')).toMatchObject({
      isOptional: true,
      relation: { onDelete: 'SetNull' },
    })
    expect(models.find((model) => model.name === 'Sample')!.primaryKey).toEqual(['id'])
    expect(models.find((model) => model.name === 'Membership')).toMatchObject({
      primaryKey: ['userId', 'groupId'],
      primaryKeyName: 'userId_groupId',
    })
    const user = models.find((model) => model.name === 'User')!
    expect(user.fields.find((field) => field.name === 'mentor')?.relation).toMatchObject({
      name: 'Mentorship',
      fields: ['mentorId'],
      onDelete: 'SetNull',
    })
  })

  test('handles compound keys, views, comments, strings with braces and Unsupported types', () => {
    const models = parseSchema(`
      // a comment with { braces } and "quotes"
      datasource db { provider = "mysql" }
      enum Role {
        ADMIN @map("admin")
        USER
      }
      /// documentation
      model Membership {
        orgId   String @db.VarChar(36)
        userId  Int
        role    Role   @default(USER)
        note    String @default("} not the end {") // trailing comment
        geo     Unsupported("geometry(Point, 4326)")?
        org     Org    @relation("members", fields: [orgId], references: [id], onDelete: Cascade, onUpdate: Restrict)
        @@id([orgId, userId(sort: Desc)], name: "membershipKey")
        @@index([role])
      }
      model Org {
        id      String       @id @default(dbgenerated("gen_random_uuid()"))
        members Membership[] @relation("members")
        parent  Org?         @relation("tree", fields: [parentId], references: [id])
        parentId String?
        children Org[]       @relation("tree")
      }
      view ActiveOrg {
        id String @unique
      }
      type Address {
        street String
      }
    `)
    const membership = models.find((model) => model.name === 'Membership')!
    expect(membership.primaryKey).toEqual(['orgId', 'userId'])
    expect(membership.primaryKeyName).toBe('membershipKey')
    expect(membership.fields.map((field) => field.name)).toEqual(['orgId', 'userId', 'role', 'note', 'geo', 'org'])
    expect(membership.fields.find((field) => field.name === 'orgId')?.nativeType).toBe('VarChar')
    expect(membership.fields.find((field) => field.name === 'org')?.relation).toMatchObject({
      name: 'members',
      onDelete: 'Cascade',
      onUpdate: 'Restrict',
    })
    expect(models.find((model) => model.name === 'ActiveOrg')).toMatchObject({ isView: true, primaryKey: [] })
    expect(models.map((model) => model.name)).not.toContain('Address')
  })

  test('throws on what it cannot read', () => {
    expect(() => parseSchema('model A {\n id Int @id\n')).toThrow(SchemaParseError)
    expect(() => parseSchema('model A {\n id Int @id @default("x)\n}')).toThrow(SchemaParseError)
    expect(() => parseSchema('model A {\n id Int @id\n other Int @id\n}')).toThrow(SchemaParseError)
  })
})

/** The runtime data model Prisma generates for a schema (what `_runtimeDataModel` holds). */
function runtimeModel(models: Record<string, [name: string, kind: string, type: string, relation?: string][]>) {
  const result: RuntimeDataModel = {
    models: Object.fromEntries(
      Object.entries(models).map(([name, fields]) => [
        name,
        { fields: fields.map(([field, kind, type, relationName]) => ({ name: field, kind, type, relationName })) },
      ]),
    ),
  }
  return result
}

const TEST_RUNTIME = runtimeModel({
  User: [
    ['id', 'scalar', 'Int'],
    ['email', 'scalar', 'String'],
    ['name', 'scalar', 'String'],
    ['posts', 'object', 'Post', 'PostToUser'],
    ['profile', 'object', 'Profile', 'ProfileToUser'],
  ],
  Post: [
    ['id', 'scalar', 'Int'],
    ['title', 'scalar', 'String'],
    ['authorId', 'scalar', 'Int'],
    ['author', 'object', 'User', 'PostToUser'],
    ['tags', 'object', 'Tag', 'PostToTag'],
  ],
  Profile: [
    ['id', 'scalar', 'Int'],
    ['bio', 'scalar', 'String'],
    ['userId', 'scalar', 'Int'],
    ['user', 'object', 'User', 'ProfileToUser'],
  ],
  Tag: [
    ['id', 'scalar', 'Int'],
    ['name', 'scalar', 'String'],
    ['posts', 'object', 'Post', 'PostToTag'],
  ],
  Sample: [['id', 'scalar', 'BigInt']],
})

describe('RelationGraph', () => {
  const graph = new RelationGraph(TEST_RUNTIME, parseSchema(TEST_SCHEMA), 'postgresql')

  test('knows which side holds the key and which relations are implicit many-to-many', () => {
    expect(graph.model('Post')?.relations.get('author')).toMatchObject({ target: 'User', holdsForeignKey: true })
    expect(graph.model('User')?.relations.get('posts')).toMatchObject({ holdsForeignKey: false, isList: true })
    expect(graph.model('User')?.relations.get('profile')).toMatchObject({ isOneToOne: true })
    expect(graph.model('Tag')?.relations.get('posts')).toMatchObject({ isImplicitManyToMany: true })
    expect(graph.model('Sample')?.primaryKey).toEqual([{ name: 'id', type: 'BigInt', column: 'id' }])
  })

  test('follows referential actions, with Prisma defaults where the schema sets none', () => {
    expect([...graph.affectedByDelete('User')].sort()).toEqual(['Post', 'Profile'])
    expect([...graph.affectedByDelete('Post')]).toEqual([])
    // onUpdate defaults to Cascade: changing a referenced key changes the rows pointing at it.
    expect([...graph.affectedByUpdate('User', ['id'])].sort()).toEqual(['Post', 'Profile'])
    expect([...graph.affectedByUpdate('User', ['name'])]).toEqual([])
  })

  test('follows cascades transitively and stops at Restrict', () => {
    const schema = `
      model A { id Int @id
        bs B[] }
      model B { id Int @id
        aId Int
        a A @relation(fields: [aId], references: [id], onDelete: Cascade)
        cs C[] }
      model C { id Int @id
        bId Int
        b B @relation(fields: [bId], references: [id], onDelete: Cascade)
        ds D[] }
      model D { id Int @id
        cId Int
        c C @relation(fields: [cId], references: [id]) }
    `
    const runtime = runtimeModel({
      A: [
        ['id', 'scalar', 'Int'],
        ['bs', 'object', 'B', 'AToB'],
      ],
      B: [
        ['id', 'scalar', 'Int'],
        ['aId', 'scalar', 'Int'],
        ['a', 'object', 'A', 'AToB'],
        ['cs', 'object', 'C', 'BToC'],
      ],
      C: [
        ['id', 'scalar', 'Int'],
        ['bId', 'scalar', 'Int'],
        ['b', 'object', 'B', 'BToC'],
        ['ds', 'object', 'D', 'CToD'],
      ],
      D: [
        ['id', 'scalar', 'Int'],
        ['cId', 'scalar', 'Int'],
        ['c', 'object', 'C', 'CToD'],
      ],
    })
    const chain = new RelationGraph(runtime, parseSchema(schema), 'postgresql')
    // D's required relation to C defaults to Restrict: deleting C fails rather than changing D.
    expect([...chain.affectedByDelete('A')].sort()).toEqual(['B', 'C'])
  })

  test('without a readable schema, counts every connected model as changed and tags no rows', () => {
    const blind = new RelationGraph(TEST_RUNTIME, undefined, 'postgresql')
    expect([...blind.affectedByDelete('Tag')].sort()).toEqual(['Post', 'Profile', 'Tag', 'User'])
    expect(blind.model('User')?.primaryKey).toBeUndefined()
    expect(readTags(blind, 'User', 'findUnique', { where: { id: 1 } })).toEqual([modelTag(blind, 'User')])
    expect(writeTags(blind, 'User', 'update', { where: { id: 1 }, data: {} }, { id: 1 })).toContain(
      modelRowsTag(blind, 'User'),
    )
  })

  test('tags no rows by string keys where the database compares strings case-insensitively', () => {
    const schema = 'model U {\n id String @id\n}\nmodel C {\n id String @id @db.Citext\n}'
    const runtime = runtimeModel({ U: [['id', 'scalar', 'String']], C: [['id', 'scalar', 'String']] })
    expect(new RelationGraph(runtime, parseSchema(schema), 'postgresql').model('U')?.primaryKey).toHaveLength(1)
    expect(new RelationGraph(runtime, parseSchema(schema), 'postgresql').model('C')?.primaryKey).toBeUndefined()
    expect(new RelationGraph(runtime, parseSchema(schema), 'mysql').model('U')?.primaryKey).toBeUndefined()
  })

  test('a BigInt key gives one row tag whether written as a number or a bigint', () => {
    const fromWhere = readTags(graph, 'Sample', 'findUnique', { where: { id: 7 } })
    const fromRecord = writeTags(graph, 'Sample', 'update', { where: { id: 7n }, data: {} }, { id: 7n })
    expect(fromWhere).toContain(modelRowTag(graph, 'Sample', [7n]))
    expect(fromRecord).toContain(modelRowTag(graph, 'Sample', [7n]))
    // Raw key values never appear in a tag.
    expect(readTags(graph, 'User', 'findUnique', { where: { id: 123456 } }).join()).not.toContain('123456')
  })
})
