// The differential test on PostgreSQL, a schema of its own.
import { postgresBackend } from '../backends.js'
import { describeDifferential } from './suite.js'

describeDifferential('prisma-diff-pg', postgresBackend('prisma-diff-pg'), { returning: true })
