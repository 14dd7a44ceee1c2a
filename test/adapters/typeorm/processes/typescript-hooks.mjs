// Node module hooks that run this repository's TypeScript sources in a plain
// child process, for workers that must use the code under test rather than a
// build of it. Each file is compiled on its own with tsconfig.json's options,
// so decorators and their `design:type` metadata come out as under tsc
// (esbuild-based runners drop the metadata). Register with
// `node --import 'data:text/javascript,import{register}from"node:module";register("<this file's URL>")'`.
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const configPath = fileURLToPath(new URL('../../../../tsconfig.json', import.meta.url))
const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile)
if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'))
const compilerOptions = {
  ...ts.convertCompilerOptionsFromJson(config.compilerOptions ?? {}, configPath).options,
  module: ts.ModuleKind.ESNext,
  noEmit: false,
  sourceMap: false,
  inlineSourceMap: true,
}

/** Sources import `./x.js` for `./x.ts`, as nodenext resolution wants. */
export async function resolve(specifier, context, nextResolve) {
  const relative = specifier.startsWith('./') || specifier.startsWith('../')
  if (relative && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const candidate = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL)
    if (!existsSync(new URL(specifier, context.parentURL)) && existsSync(candidate)) {
      return { url: candidate.href, format: 'module', shortCircuit: true }
    }
  }
  return nextResolve(specifier, context)
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context)
  const fileName = fileURLToPath(url)
  const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), { compilerOptions, fileName })
  return { format: 'module', source: outputText, shortCircuit: true }
}
