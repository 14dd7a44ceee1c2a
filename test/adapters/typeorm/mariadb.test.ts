// The shared TypeORM suite on MariaDB (mysql2).
import { useTypeormFixture } from './fixture.js'
import { describeTypeormSuite } from './suite.js'

describeTypeormSuite(useTypeormFixture('typeorm-mariadb', 'mariadb'))
