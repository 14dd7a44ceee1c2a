import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { type DatabaseKind, openDatabase } from './fixtures/database.js'
import { createRun, formatTables, renderSvg, writeJson } from './harness.js'
import { busDelayScenario } from './scenarios/bus-delay.js'
import { changesDelayScenario } from './scenarios/changes-delay.js'
import { engineScenario } from './scenarios/engine.js'
import { memoryScenario } from './scenarios/memory.js'
import { mixedScenario } from './scenarios/mixed.js'
import { prismaReads } from './scenarios/prisma-reads.js'
import { readsRowCount, readsScenario } from './scenarios/reads.js'
import { stampedeScenario } from './scenarios/stampede.js'
import { typeormReads } from './scenarios/typeorm-reads.js'
import { writesRowCount, writesScenario } from './scenarios/writes.js'
import { evaluateTargets, formatTargets, markdownReport } from './targets.js'

/**
 * `npm run bench [-- --quick] [--db sqlite|postgres|mysql] [--orm prisma|typeorm|all]`:
 * every scenario in one run, each row next to the floor measured in the same
 * run; tables on stdout, JSON and an SVG plot under benchmarks/results/.
 * Timings are reported, never asserted.
 */
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    db: { type: 'string', default: 'sqlite' },
    orm: { type: 'string', default: 'all' },
  },
})
const quick = values.quick ?? false
const databaseKind = oneOf('--db', values.db, ['sqlite', 'postgres', 'mysql'] as const) satisfies DatabaseKind
const orm = oneOf('--orm', values.orm, ['prisma', 'typeorm', 'all'] as const)
const root = process.cwd()
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const redisVersion = await probeRedis(redisUrl)
if (redisVersion === undefined) {
  console.error(`No Redis answers at ${redisUrl}: running the in-process (L1) part only. Set REDIS_URL to include L2.`)
}

const withRedis = redisVersion === undefined ? undefined : redisUrl
const loadAtStart = loadavg()[0] ?? 0
// Its own connection: INFO before and after each row, never between an operation's commands.
const redisInfo = withRedis === undefined ? undefined : new Redis(withRedis)
const redisCpuUs = redisInfo && (() => redisInfo.info('cpu').then(redisCpuOf, () => Number.NaN))
const readScenarios = [...(orm === 'typeorm' ? [] : [prismaReads]), ...(orm === 'prisma' ? [] : [typeormReads])]
const readRows = readScenarios.reduce((sum, scenario) => sum + readsRowCount(scenario, withRedis !== undefined), 0)
const orms = orm === 'all' ? ['prisma', 'typeorm'] : [orm]
const cacheRuns = quick ? 2 * orms.length : orms.length === 2 ? 8 : orm === 'prisma' ? 5 : 3
const stampedeRows = withRedis === undefined ? 0 : 2 * cacheRuns
const run = createRun(
  quick,
  (withRedis === undefined ? 2 : 19) + readRows + stampedeRows + (withRedis === undefined ? 0 : writesRowCount(orms)),
  redisCpuUs,
)
await engineScenario(run, withRedis)
await memoryScenario(run)
if (withRedis !== undefined) await busDelayScenario(run, withRedis)
// Enough rows that every miss of a full run reads one no earlier iteration read.
const database = await openDatabase(databaseKind, quick ? 1_200 : 12_000)
// A scenario that fails is reported as such; the others' results are still written.
let failures = 0
const attempt = async (name: string, scenario: () => Promise<void>) => {
  try {
    await scenario()
  } catch (error) {
    failures++
    run.note(name, 'failed', (error as Error).stack ?? String(error))
  }
}
try {
  for (const scenario of readScenarios) {
    await attempt(`${scenario.orm} reads`, () => readsScenario(run, scenario, database, withRedis))
  }
  if (withRedis !== undefined) {
    await attempt('writes', () => writesScenario(run, database, withRedis, orms))
    await attempt('stampede', () => stampedeScenario(run, database, withRedis, orms))
    await attempt('mixed', () => mixedScenario(run, database, withRedis, orms))
    await attempt('change stream', () => changesDelayScenario(run, withRedis))
  }
} finally {
  await database.close()
  redisInfo?.disconnect()
}
run.progress.finish()
const loadAtEnd = loadavg()[0] ?? 0

console.log(
  `load average ${loadAtStart.toFixed(1)} at the start, ${loadAtEnd.toFixed(1)} at the end (${cpus().length} cores)`,
)
console.log(formatTables(run.results, run.notes))
const targets = evaluateTargets(run.results, run.notes)
console.log(formatTargets(targets))
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
const report = {
  date: new Date().toISOString(),
  quick,
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
  // The machine is shared: what else ran is part of what a row measured.
  loadAverage: { start: loadAtStart, end: loadAtEnd },
  versions: {
    node: process.version,
    redis: redisVersion ?? null,
    ormcache: packageJson.version,
    ioredis: installedVersion('ioredis'),
    msgpackr: installedVersion('msgpackr'),
    'lru-cache': installedVersion('lru-cache'),
    database: database.version,
    prisma: installedVersion('@prisma/client'),
    typeorm: installedVersion('typeorm'),
    'prisma-extension-redis': installedVersion('prisma-extension-redis'),
    bentocache: installedVersion('bentocache'),
    cacheable: installedVersion('cacheable'),
  },
  targets,
  results: run.results,
  notes: run.notes,
}
const resultsDir = join(root, 'benchmarks/results')
mkdirSync(resultsDir, { recursive: true })
const name = quick ? 'quick' : 'latest'
writeJson(join(resultsDir, `${name}.json`), report)
const header =
  `\`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` on ${report.date.slice(0, 10)}: ` +
  `${report.machine.cpu} × ${report.machine.cores}, Node ${process.version}, Redis ${redisVersion ?? 'none'}, ${database.version}, ` +
  `Prisma ${report.versions.prisma}, TypeORM ${report.versions.typeorm}; load average ${loadAtStart.toFixed(1)} at the start, ` +
  `${loadAtEnd.toFixed(1)} at the end`
writeFileSync(join(resultsDir, `${name}.md`), markdownReport(header, run.results, run.notes, targets))
writeFileSync(
  join(resultsDir, `${name}.svg`),
  renderSvg(run.results, `ormcache ${packageJson.version}, Node ${process.version}`),
)
console.log(`\nresults: benchmarks/results/${name}.json, plot: benchmarks/results/${name}.svg`)
// CI runs --quick to prove the benchmarks work: a failed scenario fails it.
if (failures > 0) process.exitCode = 1

/** `used_cpu_user` + `used_cpu_sys` of `INFO cpu`, in µs. */
function redisCpuOf(info: string): number {
  const seconds = (field: string) => Number(new RegExp(`${field}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1_000_000
}

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

function oneOf<const T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (allowed.includes(value as T)) return value as T
  console.error(`${flag} must be one of ${allowed.join(', ')}; got ${value}`)
  process.exit(2)
}

function installedVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
      .version
  } catch {
    return undefined
  }
}
