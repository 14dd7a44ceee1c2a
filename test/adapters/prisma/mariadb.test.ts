// The behaviour suite on MariaDB, a database of its own next to the shared `test` one.
import { mariadbBackend } from './backends.js'
import { describeBehaviour } from './dialect-behaviour.js'
import { useDialectFixture } from './dialect-fixture.js'

const backend = mariadbBackend('prisma-mariadb')
describeBehaviour(useDialectFixture('prisma-mariadb', backend), backend.quote)
