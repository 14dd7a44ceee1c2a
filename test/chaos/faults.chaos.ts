// The fault scenarios' long run: `npm run test:chaos -- faults`. Each fault
// on its own Redis, one after the other, four workers (two Prisma, two
// TypeORM), ORMCACHE_FAULTS_SECONDS each (default 20). Prints the summary
// table and writes it to test/chaos/results/faults.md. A fault that fails is
// still in the table, with what failed.
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { afterAll, test } from 'vitest'
import { checkFault, FAULT_STALL_MS, FAULT_TIMEOUT_MS } from './fault-check.js'
import { allFaults, type FaultSummary, faultTable } from './faults.js'
import { MEMORY_LAG_MS } from './run.js'

const seconds = Number(process.env.ORMCACHE_FAULTS_SECONDS ?? 20)
const RESULTS = new URL('./results/faults.md', import.meta.url)
const summaries: FaultSummary[] = []
const failed: string[] = []

for (const fault of allFaults(FAULT_STALL_MS)) {
  test(
    `${fault.name}, ${seconds} s: no stale read, no lost write, no failed request`,
    async () => {
      try {
        summaries.push(await checkFault(fault, seconds * 1_000, ['prisma', 'typeorm', 'prisma', 'typeorm']))
      } catch (error) {
        failed.push(`- **${fault.name} failed**: ${String(error).split('\n')[0]}`)
        throw error
      }
    },
    (seconds + 120) * 1_000,
  )
}

afterAll(() => {
  const cpus = os.cpus()
  const text = [
    `Faults: each on its own redis-server (or 3-master cluster), ${seconds} s, 4 worker processes (2 Prisma, 2 TypeORM; 3 for the worker kill), cache timeout ${FAULT_TIMEOUT_MS} ms (the default 250 ms under CPU starvation), Redis stalls of ${FAULT_STALL_MS} ms. Stale reads are counted against the bound the README states (Faults): another process's memory may lag ${MEMORY_LAG_MS} ms behind a write's invalidation reaching Redis (on the cluster, also its measured delivery); a write that returned before Redis had its invalidation may be read around elsewhere until Redis has it, which every such write must reach.`,
    '',
    `Run ${new Date().toISOString().slice(0, 16)} UTC on ${cpus[0]?.model ?? 'unknown'} × ${cpus.length}, Node ${process.version}, PostgreSQL and Redis on the same machine, shared with other jobs (load average ${os.loadavg()[0]!.toFixed(1)} at the end). "During fault": reads that overlapped a fault window; "uncached": reads the database served outside the windows. Latencies are this loaded machine's, reported, not asserted. A read may also wait up to \`lock.wait\` (2 s, the default) for another instance's stampede lock when its holder died or could not release it.`,
    '',
    faultTable(summaries),
    ...(failed.length > 0 ? ['', ...failed] : []),
    '',
  ].join('\n')
  console.log(text)
  writeFileSync(RESULTS, text)
})
