import type { Socket } from 'node:net'
import type { Connection, HandlerDefinition } from '@echoplex/core'
import { ChildRuntime } from '../ipc/child-runtime.js'
import { RECYCLE_CHECK_MS } from '../ipc/recycler.js'
import type { RecycleReason } from '../ipc/protocol.js'
import { HandoffSource } from '../sources/handoff.js'

/**
 * What a fork child does, whichever entry started it: boots as a spare, then serves the sockets the
 * primary hands it, one connection at a time. Strict (--connections-per-child 1) it exits after its
 * one connection, like a forked child of the seeds' server; with reuse it says `idle` and waits for
 * the next, until it has served its quota or is over a recycling limit: over --max-requests or
 * --max-memory while serving, its connection drains (as in a graceful stop: what was received is
 * answered, HTTP says `Connection: close`), then it exits and the primary starts another. A new connection gets a new `ctx` (and `ctx.state`); what the handler
 * module keeps at module level stays in the process between connections.
 */
export async function serveForkChild (bundled: Readonly<Record<string, HandlerDefinition>> = {}): Promise<void> {
  process.title = 'echoplex spare'
  const runtime = new ChildRuntime('spare')
  await runtime.boot(bundled)
  const perChild = runtime.config.connectionsPerChild ?? 1
  // no listener here: the primary accepts, and hands this child its sockets over IPC
  const source = new HandoffSource()
  await runtime.serving.serve(source)

  let served = 0
  let current: Connection | undefined
  // a socket whose PROXY protocol header is still being read (`serve --proxy-protocol`)
  let admitting = false
  let recycled: RecycleReason | undefined
  let leaving = false
  const recycle = (reason: RecycleReason): void => {
    recycled = reason
    runtime.primary.send({ type: 'recycle', reason, served })
  }
  const leave = (): void => {
    leaving = true
    runtime.sendAndExit({ type: 'bye', counters: runtime.serving.counters, forced: 0 }, 0)
  }
  const finished = (): void => {
    current = undefined
    // shutting down (the primary is stopping): the runtime says bye once drained; never announce idle
    if (leaving || runtime.shuttingDown) return
    if (recycled === undefined && perChild > 0 && served >= perChild) {
      // strict children simply end; a reused one that served its quota is recycled
      if (perChild === 1) { leave(); return }
      recycle('connections')
    }
    const over = recycled ?? runtime.recycler.over()
    if (over !== undefined) {
      if (recycled === undefined) recycle(over)
      leave()
      return
    }
    runtime.title('spare', served)
    runtime.primary.send({ type: 'idle', served })
  }
  if (runtime.recycler.active) {
    // a limit passed mid-connection: the connection drains, and the child leaves once it closed
    setInterval(() => {
      if (current === undefined || recycled !== undefined) return
      const reason = runtime.recycler.over()
      if (reason === undefined) return
      recycle(reason)
      current.shutdown()
    }, RECYCLE_CHECK_MS).unref()
  }
  runtime.primary.on('socket', (message, handle) => {
    if (handle === undefined) return
    const socket = handle as Socket
    // two connections never share a process: the primary hands a socket only to an idle child
    if (current !== undefined || admitting || leaving || recycled !== undefined || runtime.shuttingDown) {
      // the primary hands sockets only to idle children: this is a race it lost, and the client's loss
      runtime.logger.warn({ serving: current !== undefined || admitting, leaving: leaving || recycled !== undefined || runtime.shuttingDown }, 'a socket reached a child that cannot take it; closed')
      socket.destroy()
      return
    }
    served++
    admitting = true
    // the title first (counting this connection): its first bytes (an onConnect greeting) may leave
    // while the socket is taken, and `ps` must already show this child serving when the client sees them
    runtime.title('connection', served)
    // behind a PROXY-protocol balancer the header is read first: served once it is
    void source.take(socket, message.preread).then((conn) => {
      admitting = false
      if (conn === undefined) { finished(); return }
      current = conn
      runtime.primary.send({ type: 'serving', connection: conn.id })
      void conn.done.then(finished)
    })
  })
  runtime.primary.send({ type: 'ready' })
}
