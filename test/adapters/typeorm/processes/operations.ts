// The reads and writes of the two-process test, as plain data (they cross the
// IPC channel) and as what they do to a DataSource. Ids are drawn from a small
// range so reads and writes keep meeting the same rows; some writes fail (a
// post for a deleted user, a tag linked twice), which is part of the test.
import fc from 'fast-check'
import type { DataSource } from 'typeorm'
import { documentEntity, Post, Profile, Tag, User } from '../entities.js'

const Document = documentEntity('postgres')

const MAX_ID = 7

export type ReadOp =
  | { readonly kind: 'users' }
  | { readonly kind: 'usersWithDeleted' }
  | { readonly kind: 'userById'; readonly id: number }
  | { readonly kind: 'userByEmail'; readonly id: number }
  | { readonly kind: 'countUsers' }
  | { readonly kind: 'userExists'; readonly id: number }
  | { readonly kind: 'usersWithPosts' }
  | { readonly kind: 'usersPage'; readonly skip: number }
  | { readonly kind: 'postsWithTags' }
  | { readonly kind: 'postsOfUser'; readonly id: number }
  | { readonly kind: 'tagsWithPosts' }
  | { readonly kind: 'postCountsByName' }
  | { readonly kind: 'documents' }
  | { readonly kind: 'documentById'; readonly id: number }

export type WriteOp =
  | { readonly kind: 'insertUser'; readonly serial: number }
  | { readonly kind: 'renameUser'; readonly id: number; readonly serial: number }
  | { readonly kind: 'saveLoadedUser'; readonly id: number; readonly serial: number }
  | { readonly kind: 'deleteUser'; readonly id: number }
  | { readonly kind: 'removeUser'; readonly id: number }
  | { readonly kind: 'softDeleteUser'; readonly id: number }
  | { readonly kind: 'restoreUser'; readonly id: number }
  | { readonly kind: 'incrementVisits'; readonly id: number }
  | { readonly kind: 'builderUpdateBalance'; readonly id: number; readonly serial: number }
  | { readonly kind: 'builderDeletePostsOf'; readonly id: number }
  | { readonly kind: 'builderInsertTag'; readonly serial: number }
  | { readonly kind: 'addPost'; readonly userId: number; readonly tagId: number; readonly serial: number }
  | { readonly kind: 'tagPost'; readonly postId: number; readonly tagId: number }
  | { readonly kind: 'untagPost'; readonly postId: number; readonly tagId: number }
  | { readonly kind: 'giveProfile'; readonly id: number; readonly serial: number }
  | { readonly kind: 'deleteProfile'; readonly id: number }
  | { readonly kind: 'transaction'; readonly id: number; readonly serial: number }
  | { readonly kind: 'rawUpdate'; readonly id: number; readonly serial: number }
  | { readonly kind: 'upsertUser'; readonly id: number; readonly serial: number }
  | { readonly kind: 'insertTag'; readonly serial: number }
  | { readonly kind: 'decrementVisits'; readonly id: number }
  | { readonly kind: 'softRemoveUser'; readonly id: number }
  | { readonly kind: 'recoverUser'; readonly id: number }
  | { readonly kind: 'saveUserWithPosts'; readonly serial: number }
  | { readonly kind: 'movePost'; readonly postId: number; readonly userId: number }
  | { readonly kind: 'insertDocument'; readonly ownerId: number; readonly serial: number }
  | { readonly kind: 'updateDocument'; readonly id: number; readonly serial: number }

const id = fc.integer({ min: 1, max: MAX_ID })
const serial = fc.nat({ max: 1_000_000 })

export const readOp: fc.Arbitrary<ReadOp> = fc.oneof(
  fc.constant({ kind: 'users' as const }),
  fc.constant({ kind: 'usersWithDeleted' as const }),
  fc.record({ kind: fc.constant('userById' as const), id }),
  fc.record({ kind: fc.constant('userByEmail' as const), id }),
  fc.constant({ kind: 'countUsers' as const }),
  fc.record({ kind: fc.constant('userExists' as const), id }),
  fc.constant({ kind: 'usersWithPosts' as const }),
  fc.record({ kind: fc.constant('usersPage' as const), skip: fc.integer({ min: 0, max: 3 }) }),
  fc.constant({ kind: 'postsWithTags' as const }),
  fc.record({ kind: fc.constant('postsOfUser' as const), id }),
  fc.constant({ kind: 'tagsWithPosts' as const }),
  fc.constant({ kind: 'postCountsByName' as const }),
  fc.constant({ kind: 'documents' as const }),
  fc.record({ kind: fc.constant('documentById' as const), id }),
)

export const writeOp: fc.Arbitrary<WriteOp> = fc.oneof(
  fc.record({ kind: fc.constant('insertUser' as const), serial }),
  fc.record({ kind: fc.constant('renameUser' as const), id, serial }),
  fc.record({ kind: fc.constant('saveLoadedUser' as const), id, serial }),
  fc.record({ kind: fc.constant('deleteUser' as const), id }),
  fc.record({ kind: fc.constant('removeUser' as const), id }),
  fc.record({ kind: fc.constant('softDeleteUser' as const), id }),
  fc.record({ kind: fc.constant('restoreUser' as const), id }),
  fc.record({ kind: fc.constant('incrementVisits' as const), id }),
  fc.record({ kind: fc.constant('builderUpdateBalance' as const), id, serial }),
  fc.record({ kind: fc.constant('builderDeletePostsOf' as const), id }),
  fc.record({ kind: fc.constant('builderInsertTag' as const), serial }),
  fc.record({ kind: fc.constant('addPost' as const), userId: id, tagId: id, serial }),
  fc.record({ kind: fc.constant('tagPost' as const), postId: id, tagId: id }),
  fc.record({ kind: fc.constant('untagPost' as const), postId: id, tagId: id }),
  fc.record({ kind: fc.constant('giveProfile' as const), id, serial }),
  fc.record({ kind: fc.constant('deleteProfile' as const), id }),
  fc.record({ kind: fc.constant('transaction' as const), id, serial }),
  fc.record({ kind: fc.constant('rawUpdate' as const), id, serial }),
  fc.record({ kind: fc.constant('upsertUser' as const), id, serial }),
  fc.record({ kind: fc.constant('insertTag' as const), serial }),
  fc.record({ kind: fc.constant('decrementVisits' as const), id }),
  fc.record({ kind: fc.constant('softRemoveUser' as const), id }),
  fc.record({ kind: fc.constant('recoverUser' as const), id }),
  fc.record({ kind: fc.constant('saveUserWithPosts' as const), serial }),
  fc.record({ kind: fc.constant('movePost' as const), postId: id, userId: id }),
  fc.record({ kind: fc.constant('insertDocument' as const), ownerId: id, serial }),
  fc.record({ kind: fc.constant('updateDocument' as const), id, serial }),
)

export function runRead(dataSource: DataSource, op: ReadOp): Promise<unknown> {
  const users = dataSource.getRepository(User)
  const posts = dataSource.getRepository(Post)
  switch (op.kind) {
    case 'users':
      return users.find({ order: { id: 'ASC' } })
    case 'usersWithDeleted':
      return users.find({ withDeleted: true, order: { id: 'ASC' } })
    case 'userById':
      return users.findOneBy({ id: op.id })
    case 'userByEmail':
      return users.findOne({ where: { email: `u${op.id}@x.test` } })
    case 'countUsers':
      return users.count()
    case 'userExists':
      return users.exists({ where: { id: op.id } })
    case 'usersWithPosts':
      return users.find({
        relations: { posts: { tags: true } },
        order: { id: 'ASC', posts: { id: 'ASC', tags: { id: 'ASC' } } },
      })
    case 'usersPage':
      // A join with skip/take: TypeORM's hidden pagination query, then the page's rows.
      return users
        .createQueryBuilder('u')
        .leftJoinAndSelect('u.posts', 'p')
        .orderBy('u.id', 'ASC')
        .addOrderBy('p.id', 'ASC')
        .skip(op.skip)
        .take(2)
        .getManyAndCount()
    case 'postsWithTags':
      return posts.find({ relations: { tags: true, user: true }, order: { id: 'ASC', tags: { id: 'ASC' } } })
    case 'postsOfUser':
      return posts.count({ where: { user: { id: op.id } } })
    case 'tagsWithPosts':
      return dataSource
        .getRepository(Tag)
        .find({ relations: { posts: true }, order: { id: 'ASC', posts: { id: 'ASC' } } })
    case 'postCountsByName':
      return users
        .createQueryBuilder('u')
        .select('u.name', 'name')
        .addSelect('COUNT(p.id)', 'posts')
        .leftJoin('u.posts', 'p')
        .groupBy('u.name')
        .orderBy('u.name')
        .getRawMany()
    case 'documents':
      return dataSource.getRepository(Document).find({ relations: { owner: true }, order: { id: 'ASC' } })
    case 'documentById':
      return dataSource.getRepository(Document).findOneBy({ id: op.id })
  }
}

/** `schema` qualifies the table of the raw statement, which TypeORM does not rewrite. */
export async function runWrite(dataSource: DataSource, op: WriteOp, schema: string): Promise<void> {
  const users = dataSource.getRepository(User)
  switch (op.kind) {
    case 'insertUser':
      await users.save({ email: `s${op.serial}@x.test`, name: `N${op.serial}`, labels: ['new'], visits: '1' })
      return
    case 'renameUser':
      await users.update({ id: op.id }, { name: `R${op.serial}` })
      return
    case 'saveLoadedUser': {
      const user = await users.findOneBy({ id: op.id })
      if (user === null) return
      user.name = `S${op.serial}`
      user.labels = [...user.labels, 'saved']
      await users.save(user)
      return
    }
    case 'deleteUser':
      await users.delete({ id: op.id })
      return
    case 'removeUser': {
      const user = await users.findOneBy({ id: op.id })
      if (user !== null) await users.remove(user)
      return
    }
    case 'softDeleteUser':
      await users.softDelete({ id: op.id })
      return
    case 'restoreUser':
      await users.restore({ id: op.id })
      return
    case 'incrementVisits':
      await users.increment({ id: op.id }, 'visits', 1)
      return
    case 'builderUpdateBalance':
      await dataSource
        .createQueryBuilder()
        .update(User)
        .set({ balance: `${op.serial % 1000}.25` })
        .where('id = :id', { id: op.id })
        .execute()
      return
    case 'builderDeletePostsOf':
      await dataSource.createQueryBuilder().delete().from(Post).where('"userId" = :id', { id: op.id }).execute()
      return
    case 'builderInsertTag':
      await dataSource
        .createQueryBuilder()
        .insert()
        .into(Tag)
        .values({ name: `t${op.serial}` })
        .execute()
      return
    case 'addPost':
      await dataSource
        .getRepository(Post)
        .save({ title: `P${op.serial}`, user: { id: op.userId }, tags: [{ id: op.tagId }] })
      return
    case 'tagPost':
      await dataSource.createQueryBuilder().relation(Post, 'tags').of(op.postId).add(op.tagId)
      return
    case 'untagPost':
      await dataSource.createQueryBuilder().relation(Post, 'tags').of(op.postId).remove(op.tagId)
      return
    case 'giveProfile': {
      const profile = await dataSource.getRepository(Profile).save({ bio: `b${op.serial}` })
      await users.update({ id: op.id }, { profile })
      return
    }
    case 'deleteProfile':
      // SET NULL on user.profileId, in the database.
      await dataSource.getRepository(Profile).delete({ id: op.id })
      return
    case 'transaction':
      await dataSource.transaction(async (manager) => {
        await manager.update(User, { id: op.id }, { name: `T${op.serial}` })
        await manager.save(Tag, { name: `tx${op.serial}` })
      })
      return
    case 'rawUpdate':
      await dataSource.query(`UPDATE "${schema}"."user" SET "name" = $1 WHERE "id" = $2`, [`Q${op.serial}`, op.id])
      return
    case 'upsertUser':
      await users.upsert({ email: `u${op.id}@x.test`, name: `UP${op.serial}` }, ['email'])
      return
    case 'insertTag':
      await dataSource.getRepository(Tag).insert({ name: `i${op.serial}` })
      return
    case 'decrementVisits':
      await users.decrement({ id: op.id }, 'visits', 2)
      return
    case 'softRemoveUser': {
      const user = await users.findOneBy({ id: op.id })
      if (user !== null) await users.softRemove(user)
      return
    }
    case 'recoverUser': {
      const user = await users.findOne({ where: { id: op.id }, withDeleted: true })
      if (user !== null) await users.recover(user)
      return
    }
    case 'saveUserWithPosts':
      // `cascade: true` on User.posts: the posts are inserted with the user.
      await users.save(
        users.create({
          email: `c${op.serial}@x.test`,
          name: `C${op.serial}`,
          posts: [{ title: `c${op.serial}-1` }, { title: `c${op.serial}-2` }],
        }),
      )
      return
    case 'movePost':
      await dataSource.createQueryBuilder().relation(Post, 'user').of(op.postId).set(op.userId)
      return
    case 'insertDocument':
      await dataSource.getRepository(Document).save(documentValues(op.serial, op.ownerId))
      return
    case 'updateDocument': {
      const { data, content, meta } = documentValues(op.serial, null)
      await dataSource.getRepository(Document).update({ id: op.id }, { data, content, meta, revision: op.serial })
      return
    }
  }
}

/** A document whose every column depends on `serial`: JSON, binary and a Date among them. */
function documentValues(serial: number, ownerId: number | null) {
  return {
    title: `d${serial}`,
    revision: serial % 100,
    publishedAt: new Date(Date.UTC(2024, 0, 1) + serial * 1_000),
    meta: { serial, labels: ['x', String(serial)] },
    data: { serial, nested: { big: `90071992547409${serial % 100}`, ok: serial % 2 === 0 }, list: [1, null, 'a'] },
    content: Buffer.from([serial % 256, 0, 255]),
    owner: ownerId === null ? null : ({ id: ownerId } as User),
  }
}

/** Users 1–4 (u<n>@x.test), profiles 1–2 on users 1–2, tags 1–3, posts 1–4 with some tags, documents 1–2. */
export async function seedModel(dataSource: DataSource): Promise<void> {
  const profiles = await dataSource.getRepository(Profile).save([{ bio: 'one' }, { bio: 'two' }])
  const users = dataSource.getRepository(User)
  for (let n = 1; n <= 4; n++) {
    await users.save({
      email: `u${n}@x.test`,
      name: `U${n}`,
      labels: ['red'],
      visits: `900719925474099${n}`,
      balance: `${n}.50`,
      profile: profiles[n - 1] ?? null,
    })
  }
  const tags = await dataSource.getRepository(Tag).save([{ name: 'a' }, { name: 'b' }, { name: 'c' }])
  const posts = dataSource.getRepository(Post)
  await posts.save({ title: 'p1', user: { id: 1 }, tags: [tags[0]!, tags[1]!] })
  await posts.save({ title: 'p2', user: { id: 1 }, tags: [] })
  await posts.save({ title: 'p3', user: { id: 2 }, tags: [tags[2]!] })
  await posts.save({ title: 'p4', user: { id: 3 }, tags: [tags[0]!] })
  await dataSource.getRepository(Document).save([documentValues(1, 1), documentValues(2, 2)])
}
