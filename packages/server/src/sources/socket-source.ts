import type { Socket } from 'node:net'
import type { Connection } from '@echoplex/core'

/**
 * Serves one socket: what a ConnectionServer gives its sources (undefined when it refused it). A
 * promise when the server first reads a PROXY protocol header off the socket (`serve --proxy-protocol`).
 */
export type Accept = (socket: Socket) => Connection | undefined | Promise<Connection | undefined>

/**
 * Where a serving process's sockets come from, as Node's cluster shared_handle / round_robin_handle:
 * a listener of its own (event-loop, pool), cluster's shared handle (a cluster worker), or sockets
 * handed over IPC one at a time (a fork child). The ConnectionServer serves whatever they feed it.
 */
export interface SocketSource {
  /** Starts feeding sockets to `accept`; resolves with the formatted address it listens on, if it listens. */
  open (accept: Accept): Promise<string | undefined>
  /** Stops taking new sockets (a graceful stop); idempotent. */
  close (): void
}
