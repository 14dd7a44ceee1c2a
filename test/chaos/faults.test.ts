// The fault scenarios' short run, in `npm test`, half of them (the other half
// is faults-cluster.test.ts, so that vitest runs the halves in parallel). The
// long run is faults.chaos.ts (`npm run test:chaos -- faults`).
import { FAULT_STALL_MS, shortFaultTests } from './fault-check.js'
import { allFaults } from './faults.js'

const [killAndRestart, pauseAndSleep, killPubSub, , , , cpuStarvation] = allFaults(FAULT_STALL_MS)
shortFaultTests([killAndRestart!, pauseAndSleep!, killPubSub!, cpuStarvation!])
