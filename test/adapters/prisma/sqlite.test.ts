// The behaviour suite on SQLite (better-sqlite3), a database file of its own.
import { sqliteBackend } from './backends.js'
import { describeBehaviour } from './dialect-behaviour.js'

describeBehaviour('prisma-sqlite', sqliteBackend())
