import { createServer, type Server } from 'node:net'
import type { Logger, ServerLimits } from '@echoplex/core'
import { connectionBudget } from '../descriptors.js'
import { listen } from '../listen.js'
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
}

/**
 * Sockets from a net.Server of this process's own (or, in a cluster worker, cluster's shared handle,
 * or with `--sched reuseport` the worker's own socket on the shared port).
 */
export class ListenerSource implements SocketSource {
  readonly server: Server
  private accept: Accept | undefined

  constructor (private readonly options: ListenerOptions) {
    const { limits, logger } = options
    // allowHalfOpen: a client that shuts its write side still gets the replies it is owed
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => { void this.accept?.(socket) })
    this.server.maxConnections = connectionBudget(limits.maxConnections)
    if (this.server.maxConnections < limits.maxConnections) {
      logger.info({ maxConnections: this.server.maxConnections }, 'max connections lowered to fit the open-files limit')
    }
    this.server.on('drop', () => { logger.warn('connection refused: --max-connections reached') })
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
    const { clusterShared = false, reusePort = false } = this.options
    return await listen(this.server, this.options.target, { exclusive: reusePort || !clusterShared, reusePort })
  }

  close (): void {
    if (this.server.listening) this.server.close()
  }
}
