// The behaviour suite on PostgreSQL, a schema of its own in the shared `test` database.
import { postgresBackend } from './backends.js'
import { describeBehaviour } from './dialect-behaviour.js'

describeBehaviour('prisma-postgres', postgresBackend('prisma-postgres'))
