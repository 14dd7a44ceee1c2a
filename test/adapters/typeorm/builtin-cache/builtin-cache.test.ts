import { DataSource } from 'typeorm'
import { describe, expect, test } from 'vitest'
import type { TypeormCacheOptions } from '../../../../adapters/typeorm/index.js'
import { sameClassesDeep } from '../../../fixtures/values.js'
import { disposeAfterTest } from '../../../helpers/lifecycle.js'
import { type RedisServer, startRedis } from '../../../helpers/redis-server.js'
import { QueryCounter, useTypeormFixture } from '../fixture.js'
import { type CacheUnderTest, SCENARIOS, type Scenario } from './scenarios.js'

// Every cache here talks to a redis-server of its own test: TypeORM's cache keys
// are bare SQL texts and its clear() is FLUSHDB, and one scenario kills Redis.

const fixture = useTypeormFixture('typeorm-builtin-cache')
// What a read may take beyond the Redis timeout on a busy 2-core machine (as in test/integration/faults.test.ts).
const SCHEDULING_MARGIN_MS = 900

async function dedicatedRedis(): Promise<RedisServer> {
  return disposeAfterTest(await startRedis())
}

/** TypeORM's own ioredis cache, configured as the scenario's bug report had it. */
async function builtinCache(scenario: Scenario): Promise<CacheUnderTest> {
  const server = await dedicatedRedis()
  const dataSource = new DataSource({
    ...fixture.options(new QueryCounter()),
    cache: {
      type: 'ioredis',
      options: { host: '127.0.0.1', port: server.port, ...scenario.builtin.redisOptions },
      alwaysEnabled: scenario.builtin.alwaysEnabled,
      duration: 60_000,
    },
  })
  await dataSource.initialize()
  let killed = false
  disposeAfterTest({
    [Symbol.asyncDispose]: async () => {
      // destroy() closes the pool first, then QUITs Redis: on a killed server the QUIT fails after its retries.
      await dataSource.destroy().catch((error: unknown) => {
        if (!killed) throw error
      })
    },
  })
  return {
    dataSource,
    killRedis: async () => {
      killed = true
      await server.kill()
    },
  }
}

async function ormcache(scenario: Scenario): Promise<CacheUnderTest> {
  const server = await dedicatedRedis()
  const options: TypeormCacheOptions = { redis: server.url }
  if (scenario.redisTimeoutMs !== undefined) options.timeout = `${scenario.redisTimeoutMs}ms`
  const { dataSource } = await fixture.cached(options)
  return { dataSource, killRedis: () => server.kill() }
}

describe('TypeORM built-in cache', () => {
  for (const scenario of SCENARIOS) {
    test(`TypeORM built-in cache: ${scenario.bug} (${scenario.issue})`, async () => {
      const cache = await builtinCache(scenario)
      const observation = await scenario.run(cache, fixture.plain.dataSource)
      expect(observation.cached).not.toStrictEqual(observation.expected)
      scenario.assertBug(observation)
    })
  }
})

describe('withCache, on the same scenarios', () => {
  for (const scenario of SCENARIOS) {
    test(`withCache does not: ${scenario.bug} (${scenario.issue})`, async () => {
      const cache = await ormcache(scenario)
      const { cached, expected, slowestReadMs } = await scenario.run(cache, fixture.plain.dataSource)
      expect(cached).toStrictEqual(expected)
      expect(sameClassesDeep(cached, expected)).toBeUndefined()
      // Redis down costs a read at most the timeout.
      if (scenario.redisTimeoutMs !== undefined) {
        expect(slowestReadMs).toBeLessThan(scenario.redisTimeoutMs + SCHEDULING_MARGIN_MS)
      }
    })
  }
})
