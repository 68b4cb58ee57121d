/** Entry of a cluster worker process (see models/cluster.ts). */
import { listen } from '../listen.js'
import { ChildRuntime } from '../ipc/child-runtime.js'
import { sendToPrimary } from '../ipc/child-hub.js'

process.title = 'echoplex worker'
const runtime = new ChildRuntime('worker')
await runtime.boot()
try {
  // not exclusive: cluster hands every worker the primary's one listening handle
  const address = await listen(runtime.serving.server, runtime.config.listen!, { exclusive: false })
  sendToPrimary({ t: 'ready', address })
} catch (err) {
  await runtime.bootFailed(err)
}
