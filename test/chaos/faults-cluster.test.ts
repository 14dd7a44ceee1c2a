// The fault scenarios' short run, the other half (see faults.test.ts):
// maxmemory eviction, a cluster node restarted, a worker killed.
import { FAULT_STALL_MS, shortFaultTests } from './fault-check.js'
import { allFaults } from './faults.js'

shortFaultTests(allFaults(FAULT_STALL_MS).slice(3, 6))
