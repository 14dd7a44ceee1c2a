import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Run } from '../harness.js'

const BUDGET = 64 * 1024 * 1024

interface MemoryReport {
  count: number
  maxBytes: number
  elapsedMs: number
  rssGrowth: number
  heapGrowth: number
  l1Bytes: number
  l1Entries: number
}

/**
 * Distinct cached queries far beyond what fits (1M, 100k with --quick) in
 * an L1 of 64 MiB: the bytes L1 counts stay within its budget, and the
 * process grows by little more than that.
 */
export async function memoryScenario(run: Run): Promise<void> {
  const count = run.quick ? 100_000 : 1_000_000
  const scenario = `memory: ${count.toLocaleString('en')} distinct cached queries, L1 budget 64 MiB`
  run.progress.label(scenario)
  const worker = fileURLToPath(new URL('../workers/memory-worker.js', import.meta.url))
  const child = fork(worker, [String(count), String(BUDGET)], { execArgv: ['--expose-gc'], stdio: 'inherit' })
  const report = await new Promise<MemoryReport>((resolve, reject) => {
    child.once('message', (message) => resolve(message as MemoryReport))
    child.once('exit', (code) => reject(new Error(`memory worker exited with ${code}`)))
  })
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`
  run.note(
    scenario,
    'ormcache L1',
    `${report.l1Entries.toLocaleString('en')} entries kept, ${mib(report.l1Bytes)} counted of ${mib(report.maxBytes)}; ` +
      `process grew ${mib(report.rssGrowth)} RSS, ${mib(report.heapGrowth)} heap; ` +
      `${Math.round((report.count / report.elapsedMs) * 1000).toLocaleString('en')} loads + stores per second`,
  )
  run.progress.step()
}
