// Generates the Prisma clients the tests use. `prisma generate` only needs the
// query compiler, which ships inside @prisma/client, but the CLI first checks
// for a schema-engine binary and tries to download one; offline that fails.
// Pointing it at any existing file skips the download: generate never runs it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'

const schemas = [
  'test/adapters/prisma/schema.prisma',
  'test/adapters/prisma/sqlite/schema.prisma',
  'test/adapters/prisma/mariadb/schema.prisma',
  'test/chaos/schema.prisma',
  'benchmarks/prisma/sqlite/schema.prisma',
  'benchmarks/prisma/postgresql/schema.prisma',
  'benchmarks/prisma/mysql/schema.prisma',
].filter((schema) => existsSync(schema))
const prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js')
const env = { ...process.env }
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath
for (const schema of schemas) {
  const result = spawnSync(process.execPath, [prismaCli, 'generate', '--schema', schema], { stdio: 'inherit', env })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
