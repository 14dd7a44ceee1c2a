// The test model, as EntitySchemas over plain classes: TypeORM hydrates rows into
// these classes, so a cached read must come back as the same classes. Decorators
// would need `experimentalDecorators` in tsconfig, which this repository does not set.
import { EntitySchema, type ValueTransformer } from 'typeorm'

export class Profile {
  id!: number
  bio!: string
}

export class User {
  id!: number
  email!: string
  name!: string
  createdAt!: Date
  /** Stored as `a|b|c`, read back as an array through a transformer. */
  labels!: string[]
  /** `bigint`: the pg driver returns a string. */
  visits!: string
  /** `decimal(12,2)`: the pg driver returns a string. */
  balance!: string
  deletedAt!: Date | null
  profile!: Profile | null
  posts?: Post[]
}

export class Post {
  id!: number
  title!: string
  user?: User
  tags?: Tag[]
}

export class Tag {
  id!: number
  name!: string
  posts?: Post[]
}

const labels: ValueTransformer = {
  to: (value: string[] | undefined) => value?.join('|'),
  from: (value: string | null) => (value === null || value === '' ? [] : value.split('|')),
}

/** The schemas for one database: only the timestamp type differs. */
export function entitySchemas(database: 'postgres' | 'mariadb') {
  const time = database === 'postgres' ? 'timestamptz' : 'datetime'
  const now = database === 'postgres' ? 'now()' : 'CURRENT_TIMESTAMP(3)'
  const ProfileSchema = new EntitySchema<Profile>({
    name: 'Profile',
    target: Profile,
    tableName: 'profile',
    columns: {
      id: { type: 'int', primary: true, generated: 'increment' },
      bio: { type: 'varchar' },
    },
  })

  const UserSchema = new EntitySchema<User>({
    name: 'User',
    target: User,
    tableName: 'user',
    columns: {
      id: { type: 'int', primary: true, generated: 'increment' },
      email: { type: 'varchar', unique: true },
      name: { type: 'varchar' },
      createdAt: { type: time, precision: 3, default: () => now },
      labels: { type: 'varchar', default: '', transformer: labels },
      visits: { type: 'bigint', default: '0' },
      balance: { type: 'decimal', precision: 12, scale: 2, default: '0' },
      deletedAt: { type: time, precision: 3, deleteDate: true, nullable: true },
    },
    relations: {
      // The key is on user: deleting a profile sets user.profileId to NULL in the database.
      profile: {
        type: 'one-to-one',
        target: 'Profile',
        joinColumn: true,
        nullable: true,
        onDelete: 'SET NULL',
        eager: true,
      },
      posts: { type: 'one-to-many', target: 'Post', inverseSide: 'user' },
    },
  })

  const PostSchema = new EntitySchema<Post>({
    name: 'Post',
    target: Post,
    tableName: 'post',
    columns: {
      id: { type: 'int', primary: true, generated: 'increment' },
      title: { type: 'varchar' },
    },
    relations: {
      user: { type: 'many-to-one', target: 'User', inverseSide: 'posts', onDelete: 'CASCADE' },
      tags: { type: 'many-to-many', target: 'Tag', inverseSide: 'posts', joinTable: true },
    },
  })

  const TagSchema = new EntitySchema<Tag>({
    name: 'Tag',
    target: Tag,
    tableName: 'tag',
    columns: {
      id: { type: 'int', primary: true, generated: 'increment' },
      name: { type: 'varchar' },
    },
    relations: {
      posts: { type: 'many-to-many', target: 'Post', inverseSide: 'tags' },
    },
  })

  return [UserSchema, PostSchema, TagSchema, ProfileSchema]
}

export const ENTITIES = entitySchemas('postgres')
/** Every table, junction included, for emptying between tests. */
export const TABLES = ['post_tags_tag', 'post', 'tag', 'user', 'profile']
