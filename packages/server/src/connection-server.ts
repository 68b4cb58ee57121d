import { createServer, type Server, type Socket } from 'node:net'
import { connectionBudget } from './descriptors.js'
import { Connection, ProxyProtocolGate, newCounters, type ConnectionCounters, type HandlerExecutor, type Hub, type Logger, type Peer, type ProxyProtocolOptions, type ServerLimits } from '@echoplex/core'

export interface ConnectionServerOptions {
  executor: HandlerExecutor
  hub: Hub
  limits: ServerLimits
  model: string
  logger: Logger
  /** Every connection opens with a PROXY protocol header from an allowed balancer (`serve --proxy-protocol`). */
  proxyProtocol?: ProxyProtocolOptions
}

/** How long a graceful stop keeps accepting, to take connections already queued in the kernel. */
export const ACCEPT_LINGER_MS = 100

/**
 * The part every model's serving process shares: a set of live connections over one handler, and a
 * graceful drain. Models differ in where sockets come from (a listener of their own, cluster's shared
 * handle, a socket handed over IPC) and where the handler runs, not in how a connection is served.
 */
export class ConnectionServer {
  readonly counters: ConnectionCounters = newCounters()
  readonly connections = new Set<Connection>()
  /** A listener feeding `accept`; models that receive sockets from elsewhere may ignore it. */
  readonly server: Server
  private draining = false
  private lingering = false
  private readonly proxyGate: ProxyProtocolGate | undefined

  constructor (private readonly options: ConnectionServerOptions) {
    // allowHalfOpen: a client that shuts its write side still gets the replies it is owed
    this.proxyGate = options.proxyProtocol === undefined ? undefined : new ProxyProtocolGate(options.proxyProtocol, options.logger, this.counters)
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => { void this.admit(socket) })
    this.server.maxConnections = connectionBudget(options.limits.maxConnections)
    if (this.server.maxConnections < options.limits.maxConnections) {
      options.logger.info({ maxConnections: this.server.maxConnections }, 'max connections lowered to fit the open-files limit')
    }
    this.server.on('drop', () => { options.logger.warn('connection refused: --max-connections reached') })
    // after listening, errors are accept failures (EMFILE when descriptors run out): libuv sheds the
    // pending connection with its reserve descriptor, so logging and carrying on is all there is to do
    this.server.on('listening', () => {
      this.server.on('error', (err: NodeJS.ErrnoException) => {
        options.logger.error({ code: err.code }, 'accept failed; still serving')
      })
    })
  }

  /**
   * Serves a socket fresh from a listener or a primary. Behind a PROXY-protocol balancer, only once
   * its header is read (no handler hook runs for a socket the gate refuses).
   */
  async admit (socket: Socket): Promise<Connection | undefined> {
    if (this.proxyGate === undefined) return this.accept(socket)
    const peer = await this.proxyGate.admit(socket)
    if (peer === undefined) return undefined
    const conn = this.accept(socket, peer)
    // the gate paused the socket to hand over the bytes after the header intact
    if (conn !== undefined) socket.resume()
    return conn
  }

  accept (socket: Socket, peer?: Peer): Connection | undefined {
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
    })
    this.connections.add(conn)
    if (this.lingering) conn.shutdown()
    return conn
  }

  /** Stops accepting, lets connections finish, and closes whatever is left after `graceMs`. */
  async drain (graceMs: number): Promise<number> {
    // connections the kernel completed but we had not accepted yet would be reset by close(): take
    // them first, so a client that connected before the signal is served like the others
    this.lingering = true
    await new Promise((resolve) => setTimeout(resolve, ACCEPT_LINGER_MS))
    this.draining = true
    if (this.server.listening) this.server.close()
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
