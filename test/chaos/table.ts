// The checker's table: `rows` rows, each with a version every write bumps and a
// fixed bucket (`bucketSize` consecutive ids) that list and aggregate reads select.
import type { EntitySchema } from 'typeorm'

export const TABLE = 'chaos_row'
export const INITIAL_VERSION = 0

export interface ChaosRow {
  id: number
  bucket: number
  version: number
}

/**
 * The same table for TypeORM, as an entity schema (no decorators to compile in
 * the worker), made from the `typeorm` module the caller loaded when it needed it.
 */
export function chaosRowSchema(typeorm: { EntitySchema: typeof EntitySchema }): EntitySchema<ChaosRow> {
  return new typeorm.EntitySchema<ChaosRow>({
    name: 'ChaosRow',
    tableName: TABLE,
    columns: {
      id: { type: 'int', primary: true },
      bucket: { type: 'int' },
      version: { type: 'int' },
    },
  })
}

export function bucketOf(id: number, bucketSize: number): number {
  return Math.floor((id - 1) / bucketSize)
}

export function rowsOfBucket(bucket: number, bucketSize: number, rows: number): number[] {
  const first = bucket * bucketSize + 1
  return Array.from({ length: Math.min(bucketSize, rows - first + 1) }, (_, index) => first + index)
}

/** The row of `rank` (from 1) among the buckets `partition`, `partition + partitions`, … */
export function rowOfRank(rank: number, partition: number, partitions: number, bucketSize: number): number {
  const bucket = Math.floor((rank - 1) / bucketSize) * partitions + partition
  return bucket * bucketSize + ((rank - 1) % bucketSize) + 1
}

/** DDL and seed rows, for a schema of the test's own (search_path set by the caller's connection). */
export function tableStatements(rows: number, bucketSize: number): string[] {
  return [
    `CREATE TABLE ${TABLE} (id integer PRIMARY KEY, bucket integer NOT NULL, version integer NOT NULL)`,
    `CREATE INDEX ${TABLE}_bucket ON ${TABLE} (bucket)`,
    `INSERT INTO ${TABLE} (id, bucket, version)
       SELECT id, (id - 1) / ${bucketSize}, ${INITIAL_VERSION} FROM generate_series(1, ${rows}) AS id`,
  ]
}
