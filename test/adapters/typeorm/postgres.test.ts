// The shared TypeORM suite on PostgreSQL.
import { useTypeormFixture } from './fixture.js'
import { describeTypeormSuite } from './suite.js'

describeTypeormSuite(useTypeormFixture('typeorm-postgres', 'postgres'))
