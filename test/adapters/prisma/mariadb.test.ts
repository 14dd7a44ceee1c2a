// The behaviour suite on MariaDB, a database of its own next to the shared `test` one.
import { mariadbBackend } from './backends.js'
import { describeBehaviour } from './dialect-behaviour.js'

describeBehaviour('prisma-mariadb', mariadbBackend('prisma-mariadb'))
