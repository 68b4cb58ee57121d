/** Entry of a cluster worker process (see models/cluster.ts). */
import { ChildRuntime } from '../ipc/child-runtime.js'
import { ListenerSource } from '../sources/listener.js'
import { shareOf, type PortShare } from '../sources/reuse-port.js'

process.title = 'echoplex worker'
const runtime = new ChildRuntime('worker')
await runtime.boot()
try {
  const { listen, limits, reusePort, portShare } = runtime.config
  // reuseport, replacing a worker: its socket (and the connections waiting in it) comes from the primary
  const share = portShare === true
    ? await new Promise<PortShare>((resolve) => runtime.primary.on('port-share', (_message, handle) => resolve(handle as PortShare)))
    : undefined
  const source = new ListenerSource({ target: listen!, limits, logger: runtime.logger, clusterShared: true, reusePort, share })
  const address = await runtime.serving.serve(source)
  // a socket of its own: the primary keeps a copy, so it outlives this worker (see PortShares)
  if (reusePort === true && share === undefined) runtime.primary.send({ type: 'port-share' }, shareOf(source.server))
  runtime.primary.send({ type: 'ready', address })
  // over --max-requests or --max-memory: the primary starts a replacement, then asks this one to drain
  runtime.recycler.watch((reason) => runtime.primary.send({ type: 'recycle', reason, served: runtime.serving.counters.connectionsTotal }))
  // `echoplex ps` shows the connections each worker has served (its title), refreshed once a second
  runtime.title('worker')
  let shown = 0
  setInterval(() => {
    if (runtime.serving.counters.connectionsTotal !== shown) runtime.title('worker')
    shown = runtime.serving.counters.connectionsTotal
  }, 1000).unref()
} catch (err) {
  await runtime.bootFailed(err)
}
