import { useTypeormFixture } from '../fixture.js'
import { describeDifferential } from './differential.js'

describeDifferential(useTypeormFixture('typeorm-diff-mariadb', 'mariadb'), { steps: 3000, minHitRatio: 0.3 })
