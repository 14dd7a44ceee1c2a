import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { createRun, formatTables, renderSvg, writeJson } from './harness.js'
import { busDelayScenario } from './scenarios/bus-delay.js'
import { engineScenario } from './scenarios/engine.js'

/**
 * `npm run bench [-- --quick]`: every scenario in one run, each row next to the
 * floor measured in the same run; tables on stdout, JSON and an SVG plot under
 * benchmarks/results/. Timings are reported, never asserted.
 */
const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } })
const quick = values.quick ?? false
const root = process.cwd()
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const redisVersion = await probeRedis(redisUrl)
if (redisVersion === undefined) {
  console.error(`No Redis answers at ${redisUrl}: running the in-process (L1) part only. Set REDIS_URL to include L2.`)
}

const run = createRun(quick, redisVersion === undefined ? 2 : 13)
await engineScenario(run, redisVersion === undefined ? undefined : redisUrl)
if (redisVersion !== undefined) await busDelayScenario(run, redisUrl)
run.progress.finish()

console.log(formatTables(run.results))
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
const report = {
  date: new Date().toISOString(),
  quick,
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
  versions: {
    node: process.version,
    redis: redisVersion ?? null,
    ormcache: packageJson.version,
    ioredis: installedVersion('ioredis'),
    msgpackr: installedVersion('msgpackr'),
    'lru-cache': installedVersion('lru-cache'),
  },
  results: run.results,
}
const resultsDir = join(root, 'benchmarks/results')
mkdirSync(resultsDir, { recursive: true })
const name = quick ? 'quick' : 'latest'
writeJson(join(resultsDir, `${name}.json`), report)
writeFileSync(
  join(resultsDir, `${name}.svg`),
  renderSvg(run.results, `ormcache ${packageJson.version}, Node ${process.version}`),
)
console.log(`\nresults: benchmarks/results/${name}.json, plot: benchmarks/results/${name}.svg`)

async function probeRedis(url: string): Promise<string | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    return /redis_version:([\d.]+)/.exec(await client.info('server'))?.[1]
  } catch {
    return undefined
  } finally {
    client.disconnect()
  }
}

function installedVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
      .version
  } catch {
    return undefined
  }
}
