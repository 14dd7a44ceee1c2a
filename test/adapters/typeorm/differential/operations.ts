// The reads and writes of the differential test: every kind TypeORM offers, on
// the test model, with their targets picked at run time among the rows that
// exist (plus one that does not), so a few dozen rows keep being read again.
import { type DataSource, In, IsNull, type QueryDeepPartialEntity } from 'typeorm'
import { type Document, type Json, Post, Profile, Tag, User } from '../entities.js'

export interface Ids {
  readonly user: readonly number[]
  readonly post: readonly number[]
  readonly tag: readonly number[]
  readonly profile: readonly number[]
  readonly document: readonly number[]
}

/** The random part of a step; each operation reads what it needs from it. */
export interface Params {
  readonly a: number
  readonly b: number
  readonly c: number
  readonly flag: boolean
  readonly json: Json
  readonly bytes: Uint8Array
  readonly date: Date
}

export interface World {
  /** The cached DataSource every write goes through. */
  readonly cached: DataSource
  readonly documents: new () => Document
  /** A test table's name as raw SQL writes it. */
  table(name: string): string
  /** The `index`th (1-based) placeholder of raw SQL. */
  placeholder(index: number): string
  /** Makes emails no other step used. */
  nextEmail(): string
}

export interface ReadOperation {
  readonly name: string
  readonly weight: number
  run(source: DataSource, ids: Ids, p: Params, documents: new () => Document): Promise<unknown>
}

export interface WriteOperation {
  readonly name: string
  readonly weight: number
  run(world: World, ids: Ids, p: Params): Promise<unknown>
}

const NAMES = ['A', 'B', 'C', 'D']
/** Emails upserts and existsBy pick from: the seed uses them, so some exist and some may not. */
export const POOL_EMAILS = ['p0@x.test', 'p1@x.test', 'p2@x.test', 'p3@x.test', 'p4@x.test', 'p5@x.test']

/** An existing id, or now and then one past the largest (a read of it caches "not found"). */
function pick(ids: readonly number[], n: number): number {
  const candidates = [...ids, (ids.at(-1) ?? 0) + 1]
  return candidates[n % candidates.length]!
}

/** An existing id, for writes that would otherwise insert a row with an id of their own. */
function existing(ids: readonly number[], n: number): number | undefined {
  return ids.length === 0 ? undefined : ids[n % ids.length]
}

const name = (n: number) => NAMES[n % NAMES.length]!
const buffer = (p: Params) => Buffer.from(p.bytes)

const users = (source: DataSource) => source.getRepository(User)
const posts = (source: DataSource) => source.getRepository(Post)

export const READS: readonly ReadOperation[] = [
  {
    name: 'find users with posts and tags',
    weight: 3,
    run: (source, _ids, p) =>
      users(source).find({
        relations: { posts: { tags: true } },
        where: p.flag ? { name: name(p.b) } : undefined,
        order: { id: 'ASC', posts: { id: 'ASC', tags: { id: 'ASC' } } },
      }),
  },
  {
    name: 'findOne user with posts',
    weight: 3,
    run: (source, ids, p) =>
      users(source).findOne({
        where: { id: pick(ids.user, p.a) },
        relations: { posts: true },
        order: { posts: { id: 'ASC' } },
      }),
  },
  { name: 'findOneBy user', weight: 6, run: (source, ids, p) => users(source).findOneBy({ id: pick(ids.user, p.a) }) },
  {
    name: 'findBy name',
    weight: 2,
    run: (source, _ids, p) => users(source).find({ where: { name: name(p.a) }, order: { id: 'ASC' } }),
  },
  {
    name: 'findAndCount page',
    weight: 2,
    run: (source, _ids, p) => users(source).findAndCount({ order: { id: 'ASC' }, take: 1 + (p.b % 4), skip: p.c % 5 }),
  },
  { name: 'count by name', weight: 2, run: (source, _ids, p) => users(source).count({ where: { name: name(p.a) } }) },
  { name: 'countBy id', weight: 2, run: (source, ids, p) => posts(source).countBy({ id: pick(ids.post, p.a) }) },
  {
    name: 'exists / existsBy',
    weight: 2,
    run: (source, ids, p) =>
      p.flag
        ? users(source).exists({ where: { id: pick(ids.user, p.a) } })
        : users(source).existsBy({ email: POOL_EMAILS[p.b % POOL_EMAILS.length]! }),
  },
  {
    name: 'find withDeleted',
    weight: 2,
    run: (source) => users(source).find({ withDeleted: true, order: { id: 'ASC' } }),
  },
  {
    name: 'find users by ids (In), selected columns',
    weight: 2,
    run: (source, ids, p) =>
      users(source).find({
        select: { id: true, name: true, visits: true },
        where: { id: In([pick(ids.user, p.a), pick(ids.user, p.b), pick(ids.user, p.c)]) },
        order: { id: 'ASC' },
        loadEagerRelations: p.flag,
      }),
  },
  {
    name: 'find users by either of two ids (where array)',
    weight: 2,
    run: (source, ids, p) =>
      users(source).find({ where: [{ id: pick(ids.user, p.a) }, { id: pick(ids.user, p.b) }], order: { id: 'ASC' } }),
  },
  {
    name: 'find users with posts, one query per relation',
    weight: 2,
    run: (source, _ids, p) =>
      users(source).find({
        relations: { posts: { tags: true } },
        relationLoadStrategy: 'query',
        where: { name: name(p.a) },
        order: { id: 'ASC', posts: { id: 'ASC' } },
      }),
  },
  {
    name: 'QueryBuilder users with a post tagged (subquery)',
    weight: 1,
    run: (source, ids, p) => {
      const userId = `${source.driver.escape('p')}.${source.driver.escape('userId')}`
      return users(source)
        .createQueryBuilder('u')
        .where(
          (builder) =>
            `u.id IN ${builder.subQuery().select(userId).from(Post, 'p').innerJoin('p.tags', 't').where('t.id = :tag').getQuery()}`,
        )
        .setParameter('tag', pick(ids.tag, p.a))
        .orderBy('u.id', 'ASC')
        .getMany()
    },
  },
  {
    name: 'find users by profile',
    weight: 1,
    run: (source, ids, p) =>
      users(source).find({ where: { profile: { id: pick(ids.profile, p.a) } }, order: { id: 'ASC' } }),
  },
  {
    name: 'find posts of a user with user and tags',
    weight: 3,
    run: (source, ids, p) =>
      posts(source).find({
        relations: { user: true, tags: true },
        where: { user: { id: pick(ids.user, p.a) } },
        order: { id: 'ASC', tags: { id: 'ASC' } },
      }),
  },
  {
    name: 'findOne post with tags',
    weight: 3,
    run: (source, ids, p) =>
      posts(source).findOne({
        where: { id: pick(ids.post, p.a) },
        relations: { tags: true, user: true },
        order: { tags: { id: 'ASC' } },
      }),
  },
  {
    name: 'find tags with posts',
    weight: 2,
    run: (source) =>
      source.getRepository(Tag).find({ relations: { posts: true }, order: { id: 'ASC', posts: { id: 'ASC' } } }),
  },
  {
    name: 'find documents with owner',
    weight: 2,
    run: (source, _ids, _p, documents) =>
      source.getRepository(documents).find({ relations: { owner: true }, order: { id: 'ASC' } }),
  },
  {
    name: 'findOneBy document',
    weight: 3,
    run: (source, ids, p, documents) => source.getRepository(documents).findOneBy({ id: pick(ids.document, p.a) }),
  },
  {
    name: 'find documents without owner',
    weight: 1,
    run: (source, _ids, _p, documents) =>
      source.getRepository(documents).find({ where: { owner: IsNull() }, order: { id: 'ASC' } }),
  },
  { name: 'find profiles', weight: 1, run: (source) => source.getRepository(Profile).find({ order: { id: 'ASC' } }) },
  {
    name: 'QueryBuilder paginated join getMany',
    weight: 2,
    run: (source, _ids, p) =>
      users(source)
        .createQueryBuilder('u')
        .leftJoinAndSelect('u.posts', 'p')
        .orderBy('u.id', 'ASC')
        .addOrderBy('p.id', 'ASC')
        .skip(p.c % 4)
        .take(1 + (p.b % 3))
        .getMany(),
  },
  {
    name: 'QueryBuilder getOne with profile',
    weight: 3,
    run: (source, ids, p) =>
      users(source)
        .createQueryBuilder('u')
        .leftJoinAndSelect('u.profile', 'profile')
        .where('u.id = :id', { id: pick(ids.user, p.a) })
        .getOne(),
  },
  {
    name: 'QueryBuilder getRawMany grouped',
    weight: 1,
    run: (source) =>
      users(source)
        .createQueryBuilder('u')
        .leftJoin('u.posts', 'p')
        .select('u.name', 'name')
        .addSelect('COUNT(p.id)', 'posts')
        .groupBy('u.name')
        .orderBy('u.name', 'ASC')
        .getRawMany(),
  },
  {
    name: 'QueryBuilder getRawOne aggregates',
    weight: 1,
    run: (source) =>
      users(source)
        .createQueryBuilder('u')
        .select('MAX(u.balance)', 'top')
        .addSelect('MIN(u.visits)', 'least')
        .addSelect('COUNT(*)', 'n')
        .getRawOne(),
  },
  {
    name: 'QueryBuilder getCount posts of a user',
    weight: 2,
    run: (source, ids, p) =>
      posts(source)
        .createQueryBuilder('p')
        .where('p.user = :id', { id: pick(ids.user, p.a) })
        .getCount(),
  },
  {
    name: 'QueryBuilder paginated join getManyAndCount',
    weight: 2,
    run: (source, _ids, p) =>
      posts(source)
        .createQueryBuilder('p')
        .leftJoinAndSelect('p.tags', 't')
        .orderBy('p.id', 'ASC')
        .addOrderBy('t.id', 'ASC')
        .skip(p.c % 3)
        .take(1 + (p.b % 3))
        .getManyAndCount(),
  },
  {
    name: 'QueryBuilder soft-deleted users withDeleted',
    weight: 1,
    run: (source) =>
      users(source)
        .createQueryBuilder('u')
        .withDeleted()
        .where('u.deletedAt IS NOT NULL')
        .orderBy('u.id', 'ASC')
        .getMany(),
  },
  {
    name: 'sum / maximum',
    weight: 1,
    run: async (source, _ids, p) => [
      await users(source).sum('id', { name: name(p.a) }),
      await posts(source).maximum('id', { user: { name: name(p.b) } }),
      await source.getRepository(Profile).average('id'),
    ],
  },
  {
    name: 'QueryBuilder getRawAndEntities',
    weight: 1,
    run: (source, ids, p) =>
      posts(source)
        .createQueryBuilder('p')
        .leftJoinAndSelect('p.user', 'u')
        .addSelect('LENGTH(p.title)', 'titleLength')
        .where('p.id IN (:...ids)', { ids: [pick(ids.post, p.a), pick(ids.post, p.b)] })
        .orderBy('p.id', 'ASC')
        .getRawAndEntities(),
  },
  {
    name: 'reads under a cache id (find, paginated getManyAndCount)',
    weight: 2,
    run: async (source, _ids, p) => [
      await users(source).find({
        where: { name: name(p.a) },
        order: { id: 'ASC' },
        cache: { id: `by-name-${p.a % 4}`, milliseconds: 60_000 },
      }),
      await users(source)
        .createQueryBuilder('u')
        .leftJoinAndSelect('u.posts', 'p')
        .orderBy('u.id', 'ASC')
        .addOrderBy('p.id', 'ASC')
        .take(2)
        .skip(p.b % 3)
        .cache(`page-${p.b % 3}`, 60_000)
        .getManyAndCount(),
    ],
  },
  {
    name: 'read inside a transaction',
    weight: 1,
    run: (source, ids, p) =>
      source.transaction((manager) =>
        manager.getRepository(User).findOne({
          where: { id: pick(ids.user, p.a) },
          relations: { posts: true },
          order: { posts: { id: 'ASC' } },
        }),
      ),
  },
]

class Rollback extends Error {}

/** Runs `write` and swallows a rollback it asked for. */
async function rolledBack(write: () => Promise<unknown>): Promise<void> {
  try {
    await write()
  } catch (error) {
    if (!(error instanceof Rollback)) throw error
  }
}

const newUser = (world: World, p: Params) => ({
  email: world.nextEmail(),
  name: name(p.a),
  labels: p.flag ? ['x', name(p.b)] : [],
  visits: String(p.b),
  balance: `${p.c % 1000}.${String(p.a % 100).padStart(2, '0')}`,
})

const newDocument = (ids: Ids, p: Params) => ({
  title: `doc ${p.a % 10}`,
  revision: p.b % 100,
  publishedAt: p.date,
  content: buffer(p),
  meta: { tags: [name(p.a)], n: p.c % 10 },
  data: p.json,
  owner: p.flag ? { id: existing(ids.user, p.a) ?? 1 } : null,
})

export const WRITES: readonly WriteOperation[] = [
  {
    name: 'save a new user with posts (cascade) and a new tag',
    weight: 3,
    run: (world, ids, p) =>
      users(world.cached).save({
        ...newUser(world, p),
        posts: [
          { title: `t${p.a % 7}`, tags: p.flag ? [{ name: `new ${p.b % 5}` }] : [] },
          ...(p.b % 2 === 0
            ? [{ title: `t${p.c % 7}`, tags: ids.tag.length > 0 ? [{ id: ids.tag[p.c % ids.tag.length]! }] : [] }]
            : []),
        ],
      }),
  },
  {
    name: 'save an existing user (partial)',
    weight: 2,
    run: async (world, ids, p) => {
      const id = existing(ids.user, p.a)
      if (id !== undefined) await users(world.cached).save({ id, name: name(p.b), labels: [name(p.c)] })
    },
  },
  {
    name: 'load through the cache, change, save',
    weight: 3,
    run: async (world, ids, p) => {
      const user = await users(world.cached).findOneBy({ id: pick(ids.user, p.a) })
      if (user === null) return
      user.name = name(p.b)
      user.balance = `${p.c % 500}.25`
      user.labels = [...user.labels.slice(-1), name(p.c)]
      await users(world.cached).save(user)
    },
  },
  {
    name: 'insert users',
    weight: 2,
    run: (world, _ids, p) =>
      users(world.cached).insert(Array.from({ length: 1 + (p.b % 3) }, (_, i) => newUser(world, { ...p, a: p.a + i }))),
  },
  {
    name: 'update by id',
    weight: 3,
    run: (world, ids, p) =>
      users(world.cached).update({ id: pick(ids.user, p.a) }, { name: name(p.b), labels: [name(p.c)] }),
  },
  {
    name: 'update by criteria',
    weight: 1,
    run: (world, _ids, p) => users(world.cached).update({ name: name(p.a) }, { balance: `${p.b % 100}.50` }),
  },
  {
    name: 'upsert by email',
    weight: 2,
    run: (world, _ids, p) =>
      users(world.cached).upsert({ email: POOL_EMAILS[p.a % POOL_EMAILS.length]!, name: name(p.b) }, ['email']),
  },
  {
    name: 'delete posts / update posts / softDelete users by criteria',
    weight: 1.5,
    run: (world, ids, p) => {
      switch (p.c % 3) {
        case 0:
          return posts(world.cached).delete({ title: `p${p.a}` })
        case 1:
          return posts(world.cached).update({ user: { id: pick(ids.user, p.a) } }, { title: `moved ${p.b}` })
        default:
          return users(world.cached).softDelete({ name: name(p.a), visits: String(p.b * 1000) })
      }
    },
  },
  { name: 'delete user', weight: 2, run: (world, ids, p) => users(world.cached).delete(pick(ids.user, p.a)) },
  {
    name: 'remove user loaded through the cache',
    weight: 1,
    run: async (world, ids, p) => {
      const user = await users(world.cached).findOneBy({ id: pick(ids.user, p.a) })
      if (user !== null) await users(world.cached).remove(user)
    },
  },
  { name: 'softDelete user', weight: 2, run: (world, ids, p) => users(world.cached).softDelete(pick(ids.user, p.a)) },
  { name: 'restore user', weight: 2, run: (world, ids, p) => users(world.cached).restore(pick(ids.user, p.a)) },
  {
    name: 'softRemove / recover user',
    weight: 2,
    run: async (world, ids, p) => {
      const repository = users(world.cached)
      const user = await repository.findOne({ where: { id: pick(ids.user, p.a) }, withDeleted: true })
      if (user === null) return
      if (user.deletedAt === null) await repository.softRemove(user)
      else await repository.recover(user)
    },
  },
  {
    name: 'increment / decrement visits',
    weight: 2,
    run: (world, ids, p) =>
      p.flag
        ? users(world.cached).increment({ id: pick(ids.user, p.a) }, 'visits', 1 + (p.b % 5))
        : users(world.cached).decrement({ name: name(p.a) }, 'visits', 1),
  },
  {
    name: 'clear the junction table or the documents',
    weight: 0.2,
    run: (world, _ids, p) =>
      p.flag ? world.cached.manager.clear('post_tags_tag') : world.cached.manager.clear(world.documents),
  },
  {
    name: 'QueryBuilder insert posts',
    weight: 2,
    run: (world, ids, p) =>
      world.cached
        .createQueryBuilder()
        .insert()
        .into(Post)
        .values([{ title: `q${p.a % 5}`, user: { id: existing(ids.user, p.b) ?? 1 } }])
        .execute(),
  },
  {
    name: 'QueryBuilder update user',
    weight: 2,
    run: (world, ids, p) =>
      world.cached
        .createQueryBuilder()
        .update(User)
        .set({ name: name(p.b) })
        .where('id = :id', { id: pick(ids.user, p.a) })
        .execute(),
  },
  {
    name: 'QueryBuilder delete post',
    weight: 2,
    run: (world, ids, p) =>
      world.cached
        .createQueryBuilder()
        .delete()
        .from(Post)
        .where('id = :id', { id: pick(ids.post, p.a) })
        .execute(),
  },
  {
    name: 'QueryBuilder softDelete / restore user',
    weight: 2,
    run: (world, ids, p) => {
      const builder = world.cached.createQueryBuilder(User, 'u')
      const action = p.flag ? builder.softDelete() : builder.restore()
      return action.where('id = :id', { id: pick(ids.user, p.a) }).execute()
    },
  },
  {
    name: 'RelationQueryBuilder add / remove / addAndRemove tags',
    weight: 3,
    run: (world, ids, p) => {
      const relation = world.cached.createQueryBuilder().relation(Post, 'tags').of(pick(ids.post, p.a))
      const tag = pick(ids.tag, p.b)
      switch (p.c % 3) {
        case 0:
          return relation.add(tag)
        case 1:
          return relation.remove(tag)
        default:
          return relation.addAndRemove([tag], [pick(ids.tag, p.c)])
      }
    },
  },
  {
    name: 'RelationQueryBuilder set post user / user profile',
    weight: 2,
    run: (world, ids, p) =>
      p.flag
        ? world.cached.createQueryBuilder().relation(Post, 'user').of(pick(ids.post, p.a)).set(pick(ids.user, p.b))
        : world.cached
            .createQueryBuilder()
            .relation(User, 'profile')
            .of(pick(ids.user, p.a))
            .set(p.b % 3 === 0 ? null : pick(ids.profile, p.b)),
  },
  {
    name: 'delete profile (SET NULL) / tag (junction cascade)',
    weight: 1,
    run: (world, ids, p) =>
      p.flag
        ? world.cached.getRepository(Profile).delete(pick(ids.profile, p.a))
        : world.cached.getRepository(Tag).delete(pick(ids.tag, p.a)),
  },
  {
    name: 'insert profile / tag',
    weight: 1.5,
    run: (world, _ids, p) =>
      p.flag
        ? world.cached.getRepository(Profile).insert({ bio: `bio ${p.a % 9}` })
        : world.cached.getRepository(Tag).save({ name: `tag ${p.a % 9}` }),
  },
  {
    name: 'raw query() writes',
    weight: 2,
    run: (world, ids, p) => {
      const [first, second] = [world.placeholder(1), world.placeholder(2)]
      switch (p.c % 3) {
        case 0:
          return world.cached.query(`UPDATE ${world.table('user')} SET name = ${first} WHERE id = ${second}`, [
            name(p.b),
            pick(ids.user, p.a),
          ])
        case 1:
          return world.cached.query(`DELETE FROM ${world.table('post')} WHERE id = ${first}`, [pick(ids.post, p.a)])
        default:
          return world.cached.query(`INSERT INTO ${world.table('tag')} (name) VALUES (${first})`, [`raw ${p.a % 9}`])
      }
    },
  },
  {
    name: 'transaction commit / rollback',
    weight: 2,
    run: (world, ids, p) =>
      rolledBack(() =>
        world.cached.transaction(async (manager) => {
          await manager.getRepository(User).update({ id: pick(ids.user, p.a) }, { name: name(p.b) })
          await manager
            .getRepository(Post)
            .insert({ title: `tx${p.c % 5}`, user: { id: existing(ids.user, p.c) ?? 1 } })
          // A read inside sees the transaction's own writes.
          await manager.getRepository(User).find({ relations: { posts: true } })
          if (p.flag) throw new Rollback()
        }),
      ),
  },
  {
    name: 'query runner transaction commit / rollback',
    weight: 2,
    run: async (world, ids, p) => {
      const runner = world.cached.createQueryRunner()
      try {
        await runner.startTransaction()
        await runner.manager.getRepository(User).delete(pick(ids.user, p.a))
        await runner.manager.getRepository(Tag).insert({ name: `rt${p.b % 5}` })
        if (p.flag) await runner.rollbackTransaction()
        else await runner.commitTransaction()
      } finally {
        if (runner.isTransactionActive) await runner.rollbackTransaction()
        await runner.release()
      }
    },
  },
  {
    name: 'save a new document',
    weight: 1.5,
    run: (world, ids, p) => world.cached.getRepository(world.documents).save(newDocument(ids, p)),
  },
  {
    name: 'update a document (json, bytes, date)',
    weight: 2,
    run: (world, ids, p) =>
      world.cached.getRepository(world.documents).update(
        { id: pick(ids.document, p.a) },
        // The JSON column is typed `unknown`, which TypeORM's partial types do not take as is.
        {
          data: p.json,
          content: buffer(p),
          publishedAt: p.date,
          meta: { n: p.b % 7 },
        } as QueryDeepPartialEntity<Document>,
      ),
  },
  {
    name: 'delete a document',
    weight: 1,
    run: (world, ids, p) => world.cached.getRepository(world.documents).delete(pick(ids.document, p.a)),
  },
]
