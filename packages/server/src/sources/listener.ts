import { createServer, type Server } from 'node:net'
import type { Logger, ServerLimits } from '@echoplex/core'
import { connectionBudget } from '../descriptors.js'
import { formatAddress, listen } from '../listen.js'
import { listenOnShare, type PortShare } from './reuse-port.js'
import type { ListenTarget } from '../model.js'
import type { Accept, SocketSource } from './socket-source.js'

export interface ListenerOptions {
  target: ListenTarget
  limits: ServerLimits
  logger: Logger
  /**
   * A cluster worker's listener: cluster hands every worker the primary's one handle (round-robin or
   * shared), so the address is not this process's to own exclusively, nor its stale socket to clear.
   */
  clusterShared?: boolean
  /** A cluster worker's own listener, sharing the port with the other workers' (SO_REUSEPORT): the kernel spreads connections. */
  reusePort?: boolean
  /** With reusePort: listen on this socket (a worker's it replaces, see PortShares) instead of binding one. */
  share?: PortShare
}

/**
 * Sockets from a net.Server of this process's own (or, in a cluster worker, cluster's shared handle,
 * or with `--sched reuseport` the worker's own socket on the shared port).
 */
export class ListenerSource implements SocketSource {
  readonly server: Server
  private accept: Accept | undefined
  /** Connections taken and not yet closed (a cluster worker counts them itself, see above). */
  private taken = 0

  constructor (private readonly options: ListenerOptions) {
    const { limits, logger } = options
    const maxConnections = connectionBudget(limits.maxConnections)
    if (maxConnections < limits.maxConnections) {
      logger.info({ maxConnections }, 'max connections lowered to fit the open-files limit')
    }
    const refused = (): void => { logger.warn('connection refused: --max-connections reached') }
    // a socket cluster hands out (not a worker's own SO_REUSEPORT one): counted here, see below
    const handedOut = options.clusterShared === true && options.reusePort !== true
    // allowHalfOpen: a client that shuts its write side still gets the replies it is owed
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => {
      if (handedOut) {
        // cluster's round-robin hands a connection a worker refuses (server.maxConnections) to
        // another worker, and back, for as long as all are full: the client hangs while the primary
        // spins. A full cluster worker takes the connection and closes it instead
        if (this.taken >= maxConnections) { socket.destroy(); refused(); return }
        this.taken++
        socket.once('close', () => { this.taken-- })
      }
      void this.accept?.(socket)
    })
    if (!handedOut) this.server.maxConnections = maxConnections
    this.server.on('drop', refused)
    // after listening, errors are accept failures (EMFILE when descriptors run out): libuv sheds the
    // pending connection with its reserve descriptor, so logging and carrying on is all there is to do
    this.server.on('listening', () => {
      this.server.on('error', (err: NodeJS.ErrnoException) => {
        logger.error({ code: err.code }, 'accept failed; still serving')
      })
    })
  }

  async open (accept: Accept): Promise<string> {
    this.accept = accept
    const { clusterShared = false, reusePort = false, share } = this.options
    if (share !== undefined) {
      await listenOnShare(this.server, share)
      return formatAddress(this.server, this.options.target)
    }
    return await listen(this.server, this.options.target, { exclusive: reusePort || !clusterShared, reusePort })
  }

  close (): void {
    if (this.server.listening) this.server.close()
  }
}
