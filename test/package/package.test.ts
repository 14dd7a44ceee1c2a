// Installs the packed tarball the way a user would and checks every `exports`
// entry from ESM and CommonJS, at run time and in the type checker. The repo's
// own tests import sources, so only this test sees what npm actually ships.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const repoRequire = createRequire(join(repoRoot, 'package.json'))
const INSTALL_TIMEOUT_MS = 10 * 60_000

// Every value each entry exports, and its `typeof`: exactly these, so nothing internal ships by accident.
const EXPECTED_EXPORTS: Record<string, Readonly<Record<string, string>>> = {
  ormcache: {
    createCache: 'function',
    hashArgs: 'function',
    consistencyToken: 'function',
    readYourWrites: 'function',
    withReadYourWrites: 'function',
    OrmCacheError: 'function',
    InvalidOptionError: 'function',
    InvalidUsageError: 'function',
    UnkeyableArgsError: 'function',
    CacheClosedError: 'function',
    ChangeStreamError: 'function',
    RedisUnavailableError: 'function',
    SchemaParseError: 'function',
    UnsupportedOrmError: 'function',
  },
  'ormcache/prisma': { prismaCache: 'function', READ_OPERATIONS: 'object', WRITE_OPERATIONS: 'object' },
  'ormcache/typeorm': { withCache: 'function', cacheOf: 'function' },
}
const ENTRIES = Object.keys(EXPECTED_EXPORTS)
const OPTIONAL_PEERS = ['@prisma/client', 'typeorm']
// Loaded only when the `changes` option is set: absent from both projects.
const CHANGE_STREAM_PEERS = ['pg', '@vlasky/zongji', 'mysql2']

interface PackedFile {
  path: string
}

let workDir = ''
// A project with the optional peers (and @types/node for tsc) installed next to ormcache.
let withPeersDir = ''
// A project with nothing but ormcache: what a user of neither ORM has.
let withoutPeersDir = ''
let packedFiles: string[] = []

beforeAll(async () => {
  for (const built of ['dist/esm/src/index.js', 'dist/cjs/src/index.js']) {
    if (!existsSync(join(repoRoot, built))) throw new Error(`${built} is missing: run \`npm run build\` first`)
  }
  workDir = mkdtempSync(join(tmpdir(), 'ormcache-package-'))
  withPeersDir = join(workDir, 'with-peers')
  withoutPeersDir = join(workDir, 'without-peers')

  // --ignore-scripts: `prepack` would rebuild dist/ under the feet of test files running in parallel.
  const packOutput = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], repoRoot)
  const [packed] = JSON.parse(packOutput) as [{ filename: string; files: PackedFile[] }]
  packedFiles = packed.files.map((file) => file.path)
  const tarball = join(workDir, packed.filename)

  const peers = [...OPTIONAL_PEERS, '@types/node'].map((name) => `${name}@${installedVersion(name)}`)
  await Promise.all([installInto(withPeersDir, [tarball, ...peers]), installInto(withoutPeersDir, [tarball])])
}, INSTALL_TIMEOUT_MS)

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true })
})

test('the tarball holds every file the exports map points at', () => {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { exports: unknown }
  const targets = exportTargets(manifest.exports).map((target) => target.replace(/^\.\//, ''))
  expect(targets.length).toBeGreaterThan(0)
  expect(targets.filter((target) => !packedFiles.includes(target))).toEqual([])
})

describe.each(['import', 'require'] as const)('every entry loads with %s', (loader) => {
  test('and has its named exports', async () => {
    const script = loader === 'import' ? esmProbe(ENTRIES) : cjsProbe(ENTRIES)
    const found = await probe(withPeersDir, loader, script)
    expect(found).toEqual(expectedShapes(ENTRIES))
  })

  test('the root entry loads without the optional peers installed', async () => {
    for (const peer of OPTIONAL_PEERS) {
      expect(existsSync(join(withoutPeersDir, 'node_modules', peer)), `${peer} should be absent`).toBe(false)
    }
    const script = loader === 'import' ? esmProbe(['ormcache']) : cjsProbe(['ormcache'])
    const found = await probe(withoutPeersDir, loader, script)
    expect(found).toEqual(expectedShapes(['ormcache']))
  })

  test('a change stream without its packages says which to install', async () => {
    for (const peer of CHANGE_STREAM_PEERS) {
      expect(existsSync(join(withoutPeersDir, 'node_modules', peer)), `${peer} should be absent`).toBe(false)
    }
    const found = await probe(withoutPeersDir, loader, changesProbe(loader))
    expect(found).toEqual({
      postgres: expect.stringContaining('needs the `pg` package: `npm install pg`'),
      mysql: expect.stringMatching(
        /needs the `(mysql2|@vlasky\/zongji)` package: `npm install @vlasky\/zongji mysql2`/,
      ),
    })
  })
})

// What a project's tsconfig may say, each with the file a user of it writes: Node's own resolution
// (ESM and CommonJS), a bundler's, and TypeScript's older `node` (node10) resolution, which reads
// no `exports` map and is what `module: commonjs` without `moduleResolution` means on TypeScript 5
// (what `nest new` generates).
const TYPE_SETTINGS: readonly [string, string, Record<string, string>][] = [
  ['ESM under module nodenext', 'types-check.mts', { module: 'nodenext', moduleResolution: 'nodenext' }],
  ['CommonJS under module nodenext', 'types-check.cts', { module: 'nodenext', moduleResolution: 'nodenext' }],
  ['module esnext, moduleResolution bundler', 'types-bundler.ts', { module: 'esnext', moduleResolution: 'bundler' }],
  ['module commonjs, moduleResolution unset', 'types-commonjs.ts', { module: 'commonjs' }],
  // TypeScript 6 deprecates node10 (TypeScript 5 is what still defaults to it): its users silence that.
  [
    'module commonjs, moduleResolution node',
    'types-node.ts',
    { module: 'commonjs', moduleResolution: 'node', ignoreDeprecations: '6.0' },
  ],
]

test.each(TYPE_SETTINGS)('types of every entry resolve: %s', async (_kind, fileName, settings) => {
  writeFileSync(join(withPeersDir, fileName), typeProbe())
  const tsconfig = {
    compilerOptions: {
      ...settings,
      target: 'es2022',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      esModuleInterop: true,
      types: ['node'],
    },
    files: [fileName],
  }
  const tsconfigPath = join(withPeersDir, `tsconfig.${fileName}.json`)
  writeFileSync(tsconfigPath, JSON.stringify(tsconfig, null, 2))
  const tsc = repoRequire.resolve('typescript/bin/tsc')
  await run(process.execPath, [tsc, '-p', tsconfigPath], withPeersDir)
})

// Each kind of stream, on a port nothing listens on: the package is looked for before any connection.
function changesProbe(loader: 'import' | 'require'): string {
  const load =
    loader === 'import'
      ? "const { createCache } = await import('ormcache')"
      : "const { createCache } = require('ormcache')"
  return `
;(async () => {
  ${load}
  const errors = {}
  for (const [kind, url] of [['postgres', 'postgres://127.0.0.1:1/app'], ['mysql', 'mysql://root@127.0.0.1:1/app']]) {
    const cache = createCache({ changes: url })
    while (cache.stats().changes.state !== 'down') await new Promise((resolve) => setTimeout(resolve, 5))
    errors[kind] = cache.stats().changes.error
    await cache.close()
  }
  console.log(JSON.stringify(errors))
})()
`
}

function esmProbe(entries: readonly string[]): string {
  return `
const shapes = {}
for (const entry of ${JSON.stringify(entries)}) {
  try {
    const loaded = await import(entry)
    shapes[entry] = Object.fromEntries(Object.keys(loaded).sort().map((name) => [name, typeof loaded[name]]))
  } catch (error) {
    shapes[entry] = { error: String(error) }
  }
}
console.log(JSON.stringify(shapes))
`
}

function cjsProbe(entries: readonly string[]): string {
  return `
const shapes = {}
for (const entry of ${JSON.stringify(entries)}) {
  try {
    const loaded = require(entry)
    shapes[entry] = Object.fromEntries(Object.keys(loaded).sort().map((name) => [name, typeof loaded[name]]))
  } catch (error) {
    shapes[entry] = { error: String(error) }
  }
}
console.log(JSON.stringify(shapes))
`
}

// Every export must be typed: an unresolvable import in our .d.ts would turn it into `any`, silently.
// The public types are checked as shipped too: the option types a user names, and no internal hook.
function typeProbe(): string {
  const lines = ['type IsAny<T> = 0 extends 1 & T ? true : false']
  ENTRIES.forEach((entry, index) => {
    const names = Object.keys(EXPECTED_EXPORTS[entry]!)
    const aliases = names.map((name) => `${name} as ${name}${index}`)
    lines.push(`import { ${aliases.join(', ')} } from '${entry}'`)
    for (const name of names) lines.push(`export const ${name}${index}IsTyped: IsAny<typeof ${name}${index}> = false`)
  })
  lines.push(
    "import type { Cache, CacheOptions, GetOrLoadOptions, InvalidateOptions, LockOptions, L1Options } from 'ormcache'",
    "import type { CacheOrigin, CachedQueries, PrismaCacheOptions, PrismaCacheStats } from 'ormcache/prisma'",
    "import type { CachedQueries as TypeormQueries, TypeormCacheHandle, TypeormCacheOptions } from 'ormcache/typeorm'",
    "export const noPeek: 'peek' extends keyof Cache ? false : true = true",
    "export const noOnServed: 'onServed' extends keyof GetOrLoadOptions ? false : true = true",
    "export const lock: LockOptions = { ttl: '5s', wait: '2s' }",
    'export const options: CacheOptions = { l1: { maxBytes: 1 } satisfies L1Options, lock }',
    "export const target: InvalidateOptions = { tags: ['User'] }",
    "export const origin: CacheOrigin = 'bypass'",
    "export const queries: CachedQueries = 'explicit'",
    'export const typeormQueries: TypeormQueries = queries',
    'export const prismaOptions: PrismaCacheOptions = { queries }',
    'export const typeormOptions: TypeormCacheOptions = { queries }',
    "export type Fallbacks = PrismaCacheStats['schemaFallbacks']",
    "export type Invalidate = TypeormCacheHandle['invalidateAll']",
  )
  return `${lines.join('\n')}\n`
}

async function probe(cwd: string, loader: 'import' | 'require', script: string): Promise<unknown> {
  const fileName = loader === 'import' ? 'probe.mjs' : 'probe.cjs'
  writeFileSync(join(cwd, fileName), script)
  const output = await run(process.execPath, [fileName], cwd)
  return JSON.parse(output.trim().split('\n').at(-1) ?? '')
}

function expectedShapes(entries: readonly string[]): Record<string, Record<string, string>> {
  return Object.fromEntries(
    entries.map((entry) => [entry, Object.fromEntries(Object.entries(EXPECTED_EXPORTS[entry]!).sort())]),
  )
}

function exportTargets(exportsField: unknown): string[] {
  if (typeof exportsField === 'string') return [exportsField]
  if (exportsField === null || typeof exportsField !== 'object') return []
  return Object.values(exportsField).flatMap(exportTargets)
}

function installedVersion(packageName: string): string {
  // Read from disk: some packages (typeorm) do not export their package.json.
  const manifest = readFileSync(join(repoRoot, 'node_modules', packageName, 'package.json'), 'utf8')
  return (JSON.parse(manifest) as { version: string }).version
}

async function installInto(dir: string, specs: readonly string[]): Promise<void> {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: basename(dir), private: true }))
  await run('npm', ['install', ...specs, '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock'], dir)
}

function run(command: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const options = { cwd, env: envWithoutNpmScriptVariables(), maxBuffer: 64 * 1024 * 1024 }
    execFile(command, args, options, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`))
      else resolvePromise(stdout)
    })
  })
}

// Under `npm test` the environment carries npm_config_* and npm_package_*
// of this repo; an npm started from here must see only its own project.
function envWithoutNpmScriptVariables(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) && name !== 'INIT_CWD'))
}
