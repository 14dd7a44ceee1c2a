// Resolves every service once, before any test file runs: a missing service
// fails the whole run with one message instead of one per test, and the URLs
// land in process.env, which the forked test workers inherit.
import { mysqlUrl, postgresUrl, redisUrl, SERVICE_ENV_VARS, stopStartedContainers } from './services.js'

export async function setup(): Promise<void> {
  const lookups = [
    { envVar: SERVICE_ENV_VARS.redis, url: redisUrl() },
    { envVar: SERVICE_ENV_VARS.postgres, url: postgresUrl() },
    { envVar: SERVICE_ENV_VARS.mysql, url: mysqlUrl() },
  ]
  const results = await Promise.allSettled(lookups.map((lookup) => lookup.url))
  const problems: string[] = []
  results.forEach((result, index) => {
    const envVar = lookups[index]!.envVar
    if (result.status === 'fulfilled') process.env[envVar] = result.value
    else problems.push(result.reason instanceof Error ? result.reason.message : String(result.reason))
  })
  if (problems.length > 0) {
    await stopStartedContainers()
    throw new Error(`Test services missing:\n- ${problems.join('\n- ')}`)
  }
}

export async function teardown(): Promise<void> {
  await stopStartedContainers()
}
