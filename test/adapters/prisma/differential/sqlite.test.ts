// The differential test on SQLite, a database file of its own.
import { sqliteBackend } from '../backends.js'
import { describeDifferential } from './suite.js'

describeDifferential('prisma-diff-sqlite', sqliteBackend(), { returning: true })
