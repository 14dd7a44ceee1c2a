import { Cluster } from 'ioredis'
import { useRedisCluster } from '../helpers/redis-server.js'
import { defineEngineSuite } from './engine-suite.js'

// The same contract on a local 3-master Redis Cluster: entries spread over
// slots, tags in one slot per prefix, the bus across nodes.
const cluster = useRedisCluster()

defineEngineSuite({
  name: 'cluster',
  connect: async () => cluster().client(),
  admin: async () => new Cluster([...cluster().startupNodes]),
})
