/** Model operations whose results are cached (outside transactions). */
export const READ_OPERATIONS = [
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
  'count',
  'aggregate',
  'groupBy',
] as const

/** Model operations that change rows and so invalidate. */
export const WRITE_OPERATIONS = [
  'create',
  'createMany',
  'createManyAndReturn',
  'update',
  'updateMany',
  'updateManyAndReturn',
  'upsert',
  'delete',
  'deleteMany',
] as const

/** Writes that touch one row, which their `where` or their returned record identifies. */
export const SINGLE_ROW_WRITES = ['create', 'update', 'upsert', 'delete'] as const

/** Reads by a unique criterion: the only reads that can carry a row tag. */
export const UNIQUE_READS = ['findUnique', 'findUniqueOrThrow'] as const

/** Client-level raw operations (no model); they reach only a top-level `$allOperations`. */
export const RAW_OPERATIONS = [
  '$queryRaw',
  '$queryRawUnsafe',
  '$queryRawTyped',
  '$executeRaw',
  '$executeRawUnsafe',
  '$runCommandRaw',
] as const

export type ReadOperation = (typeof READ_OPERATIONS)[number]
export type WriteOperation = (typeof WRITE_OPERATIONS)[number]

const reads = new Set<string>(READ_OPERATIONS)
const writes = new Set<string>(WRITE_OPERATIONS)
const singleRowWrites = new Set<string>(SINGLE_ROW_WRITES)
const uniqueReads = new Set<string>(UNIQUE_READS)

export const isReadOperation = (operation: string): operation is ReadOperation => reads.has(operation)
export const isWriteOperation = (operation: string): operation is WriteOperation => writes.has(operation)
export const isSingleRowWrite = (operation: string): boolean => singleRowWrites.has(operation)
export const isUniqueRead = (operation: string): boolean => uniqueReads.has(operation)
