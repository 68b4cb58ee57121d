import type { Socket } from 'node:net'
import type { Connection, HandlerDefinition } from '@echoplex/core'
import { ChildRuntime } from '../ipc/child-runtime.js'
import { RECYCLE_CHECK_MS } from '../ipc/recycler.js'
import type { RecycleReason } from '../ipc/protocol.js'
import { HandoffSource } from '../sources/handoff.js'
import { KernelAcceptSource, loadKernelAccept } from '../sources/kernel-accept.js'
import { ForkScoreboard, SLOT_IDLE, SLOT_PARKED, SLOT_SERVING } from './fork-scoreboard.js'
import { readChildConfig } from '../ipc/protocol.js'
import { serveZygote, type Born } from './fork-zygote-run.js'

/**
 * What a fork child does, whichever entry started it: boots as a spare, then serves the sockets the
 * primary hands it, one connection at a time. Strict (--connections-per-child 1) it exits after its
 * one connection, like a forked child of the seeds' server; with reuse it says `idle` and waits for
 * the next, until it has served its quota or is over a recycling limit: over --max-requests or
 * --max-memory while serving, its connection drains (as in a graceful stop: what was received is
 * answered, HTTP says `Connection: close`), then it exits and the primary starts another. A new
 * connection gets a new `ctx` (and `ctx.state`); what the handler module keeps at module level stays
 * in the process between connections.
 *
 * With kernel accept (`--accept kernel`) the child takes its connections itself: while idle it waits in
 * accept() on the listening socket it inherited, and writes what it is doing to its scoreboard slot
 * instead of telling the primary `serving` and `idle` for every connection. The primary may park an
 * idle child (it stops accepting, and stays warm) and wake it again (see ForkModel.lookAtBoard).
 */
export async function serveForkChild (bundled: Readonly<Record<string, HandlerDefinition>> = {}, born?: Born): Promise<void> {
  if (born === undefined) {
    // strict fork from a zygote: this process is the zygote, and its children come back here, born
    const config = readChildConfig()
    if (config.zygote !== undefined) {
      await serveZygote(config, config.zygote.addon, bundled, async (child) => await serveForkChild(bundled, child))
      return
    }
  }
  process.title = born === undefined ? 'echoplex spare' : 'echoplex connection served=0'
  const runtime = new ChildRuntime(born === undefined ? 'spare' : 'connection', born?.channel)
  await runtime.boot(bundled, born?.handler)
  const perChild = runtime.config.connectionsPerChild ?? 1
  const kernel = runtime.config.kernelAccept
  const addon = kernel === undefined ? undefined : loadKernelAccept(kernel.addon)
  // kernel accept: this child's accept and its scoreboard slot; else no listener here: the primary
  // accepts, and hands this child its sockets over IPC
  const own = kernel === undefined || addon === undefined
    ? undefined
    : {
        source: new KernelAcceptSource(addon, kernel.fd, (errno) => runtime.logger.error({ errno }, 'accept failed; retrying')),
        board: new ForkScoreboard(addon, kernel.board, kernel.slots),
        slot: kernel.slot,
      }
  const handoff = own === undefined ? new HandoffSource() : undefined
  const source = own?.source ?? handoff!
  await runtime.serving.serve(source)

  let served = 0
  let current: Connection | undefined
  // settles when the connection taken last is done (or was refused)
  let currentDone: Promise<void> = Promise.resolve()
  // a socket whose PROXY protocol header is still being read (`serve --proxy-protocol`)
  let admitting = false
  let recycled: RecycleReason | undefined
  let leaving = false
  // the primary has enough idle children: leave once idle
  let retiring = false
  // kernel accept: asked to stop accepting for now (warm, out of the kernel's rotation)
  let parked = false
  // kernel accept: an accept is in flight (one at a time, so two connections never share this process)
  let accepting = false
  // the primary is stopping (hand-off): every connection is drained from the moment it is taken
  let draining = false
  const free = (): boolean => current === undefined && !admitting && !leaving && !retiring && recycled === undefined && !runtime.shuttingDown

  const recycle = (reason: RecycleReason): void => {
    recycled = reason
    runtime.primary.send({ type: 'recycle', reason, served })
  }
  const leave = (): void => {
    leaving = true
    runtime.sendAndExit({ type: 'bye', counters: runtime.serving.counters, forced: 0 }, 0)
  }
  /** Free for the next connection: tell the primary (a message, or the slot), and with kernel accept take it. */
  const ready = (): void => {
    if (own === undefined) {
      runtime.primary.send({ type: 'idle', served })
      return
    }
    own.board.write(own.slot, parked ? SLOT_PARKED : SLOT_IDLE, served)
    if (!parked) acceptNext(own.source)
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
    if (retiring) { leave(); return }
    runtime.title('spare', served)
    ready()
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
  const serve = (socket: Socket, preread?: Uint8Array): void => {
    served++
    admitting = true
    // the title first (counting this connection): its first bytes (an onConnect greeting) may leave
    // while the socket is taken, and `ps` must already show this child serving when the client sees them
    runtime.title('connection', served)
    own?.board.write(own.slot, SLOT_SERVING, served)
    // behind a PROXY-protocol balancer the header is read first: served once it is
    currentDone = source.take(socket, preread).then(async (conn) => {
      admitting = false
      if (conn === undefined) { finished(); return }
      current = conn
      if (own === undefined) runtime.primary.send({ type: 'serving', connection: conn.id })
      if (runtime.shuttingDown || draining) conn.shutdown()
      await conn.done
      finished()
    })
  }
  // a connection accepted as the child is parked or told to stop is still served (it cannot be put back)
  const acceptNext = (from: KernelAcceptSource): void => {
    if (accepting) return
    accepting = true
    void from.next().then((socket) => {
      accepting = false
      if (socket !== undefined) serve(socket)
      else if (!parked && free()) acceptNext(from)
    })
  }
  runtime.primary.on('socket', (message, handle) => {
    if (handle === undefined) return
    const socket = handle as Socket
    // two connections never share a process: the primary hands a socket only to an idle child
    if (!free()) {
      // the primary hands sockets only to idle children: this is a race it lost, and the client's loss
      runtime.logger.warn({ serving: current !== undefined || admitting, leaving: leaving || recycled !== undefined || retiring || runtime.shuttingDown }, 'a socket reached a child that cannot take it; closed')
      socket.destroy()
      return
    }
    serve(socket, message.preread)
  })
  runtime.primary.on('drain', (message) => {
    if (draining) return
    draining = true
    current?.shutdown()
    // past the grace period, stop as a shutdown does: what is still open is closed, and counted
    setTimeout(() => { void runtime.shutdown(0) }, message.graceMs).unref()
  })
  runtime.primary.on('accepting', (message) => {
    if (own === undefined || parked === !message.on) return
    parked = !message.on
    if (parked) own.source.pause()
    if (free()) ready()
  })
  // with kernel accept, a connection its accept took meanwhile is served first (then the child leaves,
  // or it is drained by the shutdown)
  const settleAccept = async (): Promise<void> => {
    if (own === undefined) return
    own.source.close()
    await own.source.settled()
    await Promise.resolve() // acceptNext's own continuation (serve) runs first
  }
  runtime.primary.on('retire', () => {
    retiring = true
    void settleAccept().then(() => { if (current === undefined && !admitting && !leaving) leave() })
  })
  // kernel accept: connections that completed before the stop wait in the kernel's queue, not in the
  // primary: children being stopped take them one at a time and drain each (answer what it sent, then
  // close), as the primary does with the connections waiting in its queue under hand-off
  runtime.beforeDrain = async (graceMs) => {
    if (own === undefined) return
    const deadline = Date.now() + graceMs
    await settleAccept()
    for (;;) {
      current?.shutdown()
      await currentDone
      if (Date.now() >= deadline) return
      const socket = own.source.takeQueued()
      if (socket === undefined) return
      serve(socket)
    }
  }
  runtime.primary.send({ type: 'ready' })
  if (own !== undefined) ready()
  // forked by the zygote with its connection: serve it at once
  if (born !== undefined) serve(born.socket, born.preread)
}
