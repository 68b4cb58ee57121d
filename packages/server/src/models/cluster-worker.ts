/** Entry of a cluster worker process (see models/cluster.ts). */
import { ChildRuntime } from '../ipc/child-runtime.js'
import { ListenerSource } from '../sources/listener.js'

process.title = 'echoplex worker'
const runtime = new ChildRuntime('worker')
await runtime.boot()
try {
  const { listen, limits } = runtime.config
  const address = await runtime.serving.serve(new ListenerSource({ target: listen!, limits, logger: runtime.logger, clusterShared: true }))
  runtime.primary.send({ type: 'ready', address })
} catch (err) {
  await runtime.bootFailed(err)
}
