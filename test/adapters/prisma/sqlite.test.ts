// The behaviour suite on SQLite (better-sqlite3), a database file of its own.
import { sqliteBackend } from './backends.js'
import { describeBehaviour } from './dialect-behaviour.js'
import { useDialectFixture } from './dialect-fixture.js'

const backend = sqliteBackend()
describeBehaviour(useDialectFixture('prisma-sqlite', backend), backend.quote)
