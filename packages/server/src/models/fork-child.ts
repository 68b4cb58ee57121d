/** Entry of a fork-model child: boots as a spare, then serves exactly one connection and exits. */
import type { Socket } from 'node:net'
import { ChildRuntime } from '../ipc/child-runtime.js'
import { HandoffSource } from '../sources/handoff.js'

process.title = 'echoplex spare'
const runtime = new ChildRuntime('spare')
await runtime.boot()
// no listener here: the primary accepts, and hands this child its one socket over IPC
const source = new HandoffSource()
await runtime.serving.serve(source)

let served = false
const done = (): void => runtime.sendAndExit({ type: 'bye', counters: runtime.serving.counters, forced: 0 }, 0)
runtime.primary.on('socket', (message, handle) => {
  if (handle === undefined) return
  const socket = handle as Socket
  if (served) { socket.destroy(); return }
  served = true
  process.title = 'echoplex connection'
  const conn = source.take(socket, message.preread)
  if (conn === undefined) { done(); return }
  runtime.primary.send({ type: 'serving', connection: conn.id })
  void conn.done.then(done)
})
runtime.primary.send({ type: 'ready' })
