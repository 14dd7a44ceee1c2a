import { useTypeormFixture } from '../fixture.js'
import { describeDifferential } from './differential.js'

describeDifferential(useTypeormFixture('typeorm-diff-postgres', 'postgres'), { steps: 3000, minHitRatio: 0.3 })
