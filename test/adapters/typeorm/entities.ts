// The test model as most TypeORM apps write it: decorated classes. The runner
// (vitest on Vite's oxc transform) compiles them with `experimentalDecorators`
// and `emitDecoratorMetadata` from tsconfig.json, so a column without an
// explicit `type` gets it from `design:type` as under tsc (decorators.test.ts
// proves it). TypeORM hydrates rows into these classes: a cached read must come
// back as the same classes.
import {
  Column,
  CreateDateColumn,
  DeleteDateColumn,
  Entity,
  JoinColumn,
  JoinTable,
  ManyToMany,
  ManyToOne,
  OneToMany,
  OneToOne,
  PrimaryGeneratedColumn,
  type ValueTransformer,
} from 'typeorm'

export type TypeormDatabase = 'postgres' | 'mariadb' | 'sqlite'

const labels: ValueTransformer = {
  to: (value: string[] | undefined) => value?.join('|'),
  // An array already: on SQLite, TypeORM runs `from` a second time over the defaults it reloads after an INSERT.
  from: (value: string | string[] | null) =>
    Array.isArray(value) ? value : value === null || value === '' ? [] : value.split('|'),
}

@Entity('profile')
export class Profile {
  @PrimaryGeneratedColumn()
  id!: number

  @Column()
  bio!: string
}

@Entity('user')
export class User {
  @PrimaryGeneratedColumn()
  id!: number

  @Column({ unique: true })
  email!: string

  @Column()
  name!: string

  /** `timestamp(3)` / `datetime(3)`, from `design:type` Date. */
  @CreateDateColumn({ precision: 3 })
  createdAt!: Date

  /** Stored as `a|b|c`, read back as an array through a transformer. */
  @Column({ type: 'varchar', default: '', transformer: labels })
  labels!: string[]

  /** `bigint`: pg and mysql2 give a string, better-sqlite3 a number. */
  @Column({ type: 'bigint', default: '0' })
  visits!: string | number

  /** `decimal(12,2)`: pg and mysql2 give a string, better-sqlite3 a number. */
  @Column({ type: 'decimal', precision: 12, scale: 2, default: '0' })
  balance!: string | number

  @DeleteDateColumn({ precision: 3, nullable: true })
  deletedAt!: Date | null

  /** The key is on user: deleting a profile sets user.profileId to NULL in the database. */
  @OneToOne(() => Profile, { nullable: true, onDelete: 'SET NULL', eager: true })
  @JoinColumn()
  profile!: Profile | null

  /** `cascade`: saving a user with new posts inserts them. */
  @OneToMany(
    () => Post,
    (post) => post.user,
    { cascade: true },
  )
  posts?: Post[]
}

@Entity('tag')
export class Tag {
  @PrimaryGeneratedColumn()
  id!: number

  @Column()
  name!: string

  @ManyToMany(
    () => Post,
    (post) => post.tags,
  )
  posts?: Post[]
}

@Entity('post')
export class Post {
  @PrimaryGeneratedColumn()
  id!: number

  @Column()
  title!: string

  /** Deleting a user deletes its posts in the database (and their junction rows). */
  @ManyToOne(
    () => User,
    (user) => user.posts,
    { onDelete: 'CASCADE' },
  )
  user?: User

  /** Junction table `post_tags_tag`; `cascade: ['insert']` inserts new tags on save. */
  @ManyToMany(
    () => Tag,
    (tag) => tag.posts,
    { cascade: ['insert'] },
  )
  @JoinTable()
  tags?: Tag[]
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
/** A JSON column's value. Not `Json`: TypeORM's find-option types recurse without end on a recursive type. */
export type JsonColumn = unknown

/**
 * Columns every database stores the same way. The ones without `type` take it
 * from `design:type`: varchar, integer, timestamp/datetime.
 */
export abstract class DocumentColumns {
  @PrimaryGeneratedColumn()
  id!: number

  @Column()
  title!: string

  @Column()
  revision!: number

  @Column({ precision: 3 })
  publishedAt!: Date

  @Column({ type: 'simple-json' })
  meta!: JsonColumn

  /** The database's own JSON type: `jsonb` on PostgreSQL, `json` on MariaDB and SQLite. */
  abstract data: JsonColumn

  /**
   * `bytea` on PostgreSQL, `blob` elsewhere. TypeORM maps `design:type` Buffer
   * only on MySQL/MariaDB, so the type is explicit.
   */
  abstract content: Buffer

  /** Deleting the owner sets the key to NULL in the database (a many-to-one with SET NULL). */
  @ManyToOne(() => User, { nullable: true, onDelete: 'SET NULL' })
  owner!: User | null
}

/** A document of any database: the classes differ only in the JSON and binary columns' types. */
export type Document = DocumentColumns

@Entity('document')
export class PostgresDocument extends DocumentColumns {
  @Column({ type: 'jsonb' })
  data!: JsonColumn

  @Column({ type: 'bytea' })
  content!: Buffer
}

@Entity('document')
export class MariadbDocument extends DocumentColumns {
  @Column({ type: 'json' })
  data!: JsonColumn

  @Column({ type: 'blob' })
  content!: Buffer
}

@Entity('document')
export class SqliteDocument extends DocumentColumns {
  @Column({ type: 'json' })
  data!: JsonColumn

  @Column({ type: 'blob' })
  content!: Buffer
}

/** The document class registered for `database`. */
export function documentEntity(database: TypeormDatabase): new () => Document {
  return { postgres: PostgresDocument, mariadb: MariadbDocument, sqlite: SqliteDocument }[database]
}

/** The entities for one database: only the document class differs. */
export function entitySchemas(database: TypeormDatabase) {
  return [User, Post, Tag, Profile, documentEntity(database)]
}

export const ENTITIES = entitySchemas('postgres')
/** Every table, junction included, children before parents, for emptying between tests. */
export const TABLES = ['post_tags_tag', 'document', 'post', 'tag', 'user', 'profile']
