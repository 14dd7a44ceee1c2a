import type { Cluster, Redis } from 'ioredis'

/** What of an ioredis client holds the process open; not in ioredis's typings. */
interface ClientHandles {
  readonly stream?: { unref?(): void }
  readonly reconnectTimeout?: { unref?(): void } | null
}

/**
 * Keeps a connection the cache opened from holding the process open, so a script, a CLI or a
 * test runner that is done exits as it would without the cache. The connection's socket and its
 * reconnect timer are unref'd: ioredis makes a new socket per connection and a new timer per
 * reconnect, so on each. A command in flight still keeps the process up, since every operation
 * runs under a timeout timer that is not unref'd (see L2's `#timed`).
 *
 * Relies on ioredis assigning `stream` before it announces 'connecting' and 'connect', and
 * `reconnectTimeout` before 'reconnecting' (it emits status events on the next tick). A Cluster's
 * connections are a Redis client per node, each released as the cluster adds it.
 */
export function releaseProcessHold(client: Redis | Cluster): void {
  const handles = client as unknown as ClientHandles
  const release = () => {
    handles.stream?.unref?.()
    handles.reconnectTimeout?.unref?.()
  }
  client.on('connecting', release)
  client.on('connect', release)
  client.on('reconnecting', release)
  release()
  if (isCluster(client)) {
    for (const node of client.nodes()) releaseProcessHold(node)
    client.on('+node', (node: Redis) => releaseProcessHold(node))
  }
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return 'isCluster' in client && client.isCluster === true
}
