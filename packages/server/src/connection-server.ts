import type { Socket } from 'node:net'
import { setImmediate, setTimeout as sleep } from 'node:timers/promises'
import { Connection, PartialBudget, ProxyProtocolGate, newCounters, type ConnectionCounters, type HandlerExecutor, type Hub, type Logger, type Peer, type ProxyProtocolOptions, type ServerLimits } from '@echoplex/core'
import type { SocketSource } from './sources/socket-source.js'

export interface ConnectionServerOptions {
  executor: HandlerExecutor
  hub: Hub
  limits: ServerLimits
  model: string
  logger: Logger
  /** Every connection opens with a PROXY protocol header from an allowed balancer (`serve --proxy-protocol`). */
  proxyProtocol?: ProxyProtocolOptions
}

/**
 * How long a graceful stop keeps accepting, to take connections already queued in the kernel (or in
 * cluster's round-robin queue), which close() would reset.
 */
export const ACCEPT_LINGER_MS = 100
/** The most a graceful stop lingers, however steadily connections keep coming. */
const ACCEPT_LINGER_MAX_MS = 1000

/**
 * Keeps accepting for ACCEPT_LINGER_MS, then turns the loop until a turn takes no connection (at most
 * ACCEPT_LINGER_MAX_MS in all, never past the stop's grace period): the moment to close the listener.
 * Node takes one queued connection per turn of the loop (Node 20 and 24 here), and after a stall (a
 * loaded machine) the timer runs before I/O: closing then reset what had queued all along (a stopped
 * fork primary reset 15 of 20 clients that way). `accepted`: how many connections the caller has taken.
 */
export async function lingerAccepting (accepted: () => number, graceMs: number): Promise<void> {
  const maxMs = Math.min(ACCEPT_LINGER_MAX_MS, graceMs)
  const until = performance.now() + maxMs
  await sleep(Math.min(ACCEPT_LINGER_MS, maxMs))
  for (let before = -1; before !== accepted() && performance.now() < until;) {
    before = accepted()
    await setImmediate()
  }
}

/**
 * The part every model's serving process shares: the set of live connections over one handler, and a
 * graceful drain. Where sockets come from (a listener of its own, cluster's shared handle, a socket
 * handed over IPC) is a SocketSource's business; where the handler runs, the executor's.
 */
export class ConnectionServer {
  readonly counters: ConnectionCounters = newCounters()
  readonly connections = new Set<Connection>()
  /** Bytes this process's connections hold in incomplete messages, against --max-buffered (this process's share). */
  readonly budget: PartialBudget
  private readonly sources: SocketSource[] = []
  private draining = false
  private lingering = false
  /** Sockets a source has fed so far (lingerAccepting watches it). */
  private admitted = 0
  private readonly proxyGate: ProxyProtocolGate | undefined

  constructor (private readonly options: ConnectionServerOptions) {
    this.budget = new PartialBudget(options.limits.maxBufferedBytes ?? Infinity)
    this.proxyGate = options.proxyProtocol === undefined ? undefined : new ProxyProtocolGate(options.proxyProtocol, options.logger, this.counters)
  }

  /** Serves the sockets `source` feeds; resolves with the address it listens on, if it listens. */
  async serve (source: SocketSource): Promise<string | undefined> {
    this.sources.push(source)
    return await source.open((socket) => this.admit(socket))
  }

  /**
   * Every socket a source feeds comes through here. Behind a PROXY-protocol balancer it is served
   * only once its header is read (no handler hook runs for a socket the gate refuses), so the result
   * is then a promise; without one, the socket is served at once.
   */
  admit (socket: Socket): Connection | undefined | Promise<Connection | undefined> {
    this.admitted++
    if (this.proxyGate === undefined) return this.accept(socket)
    return this.proxyGate.admit(socket).then((peer) => {
      if (peer === undefined) return undefined
      const conn = this.accept(socket, peer)
      // the gate paused the socket to hand over the bytes after the header intact
      if (conn !== undefined) socket.resume()
      return conn
    })
  }

  private accept (socket: Socket, peer?: Peer): Connection | undefined {
    if (this.draining) { socket.destroy(); return undefined }
    const conn = new Connection({
      socket,
      peer,
      executor: this.options.executor,
      hub: this.options.hub,
      limits: this.options.limits,
      model: this.options.model,
      logger: this.options.logger,
      counters: this.counters,
      onClosed: (c) => this.connections.delete(c),
      budget: this.budget,
    })
    this.connections.add(conn)
    if (this.lingering) conn.shutdown()
    return conn
  }

  /** The live connection with this id (ctx.id), if any. */
  find (id: string): Connection | undefined {
    for (const conn of this.connections) if (conn.id === id) return conn
    return undefined
  }

  /** Stops accepting, lets connections finish, and closes whatever is left after `graceMs`. */
  async drain (graceMs: number): Promise<number> {
    // connections the kernel completed but we had not accepted yet would be reset by close(): take
    // them first, so a client that connected before the signal is served like the others
    this.lingering = true
    await lingerAccepting(() => this.admitted, graceMs)
    this.draining = true
    for (const source of this.sources) source.close()
    for (const conn of this.connections) conn.shutdown()
    const all = Promise.all([...this.connections].map(async (c) => await c.done))
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<'expired'>((resolve) => { timer = setTimeout(() => resolve('expired'), graceMs) })
    const outcome = await Promise.race([all.then(() => 'done' as const), expired])
    clearTimeout(timer)
    if (outcome === 'done') return 0
    const left = [...this.connections]
    this.options.logger.warn({ left: left.length, graceMs, states: left.map((c) => c.describe()) }, 'grace period over; closing what is left')
    for (const conn of left) conn.destroy()
    await Promise.all(left.map(async (c) => await c.done))
    return left.length
  }
}
