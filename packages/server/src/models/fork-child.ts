/** Entry of a fork-model child: boots as a spare, then serves exactly one connection and exits. */
import { ChildRuntime } from '../ipc/child-runtime.js'
import { sendToPrimary } from '../ipc/child-hub.js'

process.title = 'echoplex spare'
const runtime = new ChildRuntime('spare')
await runtime.boot()

let served = false
runtime.onSocket = async (socket) => {
  if (served) { socket.destroy(); return }
  served = true
  process.title = 'echoplex connection'
  // the handle arrives as a plain socket; replies owed after the client's FIN must still go out
  socket.allowHalfOpen = true
  const conn = await runtime.serving.admit(socket)
  if (conn === undefined) { runtime.sendAndExit({ t: 'bye', counters: runtime.serving.counters, forced: 0 }, 0); return }
  sendToPrimary({ t: 'serving', connection: conn.id })
  void conn.done.then(() => runtime.sendAndExit({ t: 'bye', counters: runtime.serving.counters, forced: 0 }, 0))
}
sendToPrimary({ t: 'ready' })
