/** Entry of a cluster worker process (see models/cluster.ts). */
import { ChildRuntime } from '../ipc/child-runtime.js'
import { ListenerSource } from '../sources/listener.js'

process.title = 'echoplex worker'
const runtime = new ChildRuntime('worker')
await runtime.boot()
try {
  const { listen, limits, reusePort } = runtime.config
  const address = await runtime.serving.serve(new ListenerSource({ target: listen!, limits, logger: runtime.logger, clusterShared: true, reusePort }))
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
