// The differential test on MariaDB, a database of its own. MySQL has no RETURNING: no *AndReturn writes.
import { mariadbBackend } from '../backends.js'
import { describeDifferential } from './suite.js'

describeDifferential('prisma-diff-mariadb', mariadbBackend('prisma-diff-mariadb'), { returning: false })
