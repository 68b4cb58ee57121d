import { createServer, type Server } from 'node:net'
import { once } from 'node:events'
import type { SendHandle } from '../ipc/channel.js'

/**
 * A listening socket's handle as it crosses process IPC (child_process sends a bare libuv handle as
 * `net.Native`: received, it is held open but nothing accepts from it).
 */
export type PortShare = SendHandle

/** The handle of a listening server, to send to the primary (which keeps a copy; see PortShares). */
export function shareOf (server: Server): PortShare {
  return (server as unknown as { _handle: PortShare })._handle
}

/**
 * Listens on a socket another worker bound, with the connections already waiting in its queue.
 * `listen(handle)` would not do: in a cluster worker it asks the primary for a handle of its own.
 * So the handle is set and listened on as net.Server does it for a handle it was given (`_listen2`,
 * Node's setupListenHandle, unchanged from Node 20 to 24).
 */
export async function listenOnShare (server: Server, share: PortShare, backlog = 511): Promise<void> {
  const internal = server as unknown as { _handle: PortShare, _listen2: (address: null, port: number, addressType: number, backlog: number) => void }
  internal._handle = share
  const listening = once(server, 'listening')
  internal._listen2(null, -1, -1, backlog)
  await listening
}

/**
 * The primary's copies of its reuseport workers' sockets. A socket in an SO_REUSEPORT group that
 * closes resets the connections in its accept queue (unless the host set net.ipv4.tcp_migrate_req):
 * under churn a rolling restart lost ~25 connections to ECONNRESET in 7 s. So a worker's socket
 * outlives the worker: its replacement (restart, recycling, or a respawn after a death) listens on
 * it, and what waited in its queue is served there. The primary never accepts from its copies.
 */
export class PortShares {
  private readonly held = new Map<number, PortShare>()
  private readonly vacant: PortShare[] = []

  /** Worker `pid` listens on `share` (it bound it, or took it over, or keeps it: its replacement did not boot). */
  keep (pid: number, share: PortShare): void {
    this.unvacant(share)
    this.held.set(pid, share)
  }

  /** Worker `pid` is being replaced: its share goes to the replacement. */
  handOver (pid: number): PortShare | undefined {
    const share = this.held.get(pid)
    this.held.delete(pid)
    return share
  }

  /** Worker `pid` is gone: its share waits for the next worker (its connections wait in its queue). */
  vacate (pid: number): void {
    const share = this.handOver(pid)
    if (share !== undefined) this.vacant.push(share)
  }

  /** A share no worker listens on, for a new worker; undefined: the new worker binds its own. */
  takeVacant (): PortShare | undefined { return this.vacant.shift() }

  /** A share given to a worker that never started (the OS refused it): back for the next one, unless a worker's exit already put it there. */
  restore (share: PortShare): void {
    if (!this.vacant.includes(share) && ![...this.held.values()].includes(share)) this.vacant.unshift(share)
  }

  private unvacant (share: PortShare): void {
    const i = this.vacant.indexOf(share)
    if (i >= 0) this.vacant.splice(i, 1)
  }

  /** Closes every copy (the model stopped: its workers have exited). */
  closeAll (): void {
    for (const share of [...this.held.values(), ...this.vacant.splice(0)]) (share as unknown as { close: () => void }).close()
    this.held.clear()
  }
}

let probed: Promise<string | undefined> | undefined

/**
 * Whether this Node can bind several listening sockets to one TCP port with SO_REUSEPORT (`net`
 * `reusePort`, Node ≥ 22.12 / 23.1, on Linux and the BSDs). Detected, not assumed from the version:
 * two listeners try to share an ephemeral loopback port; older Nodes ignore the option, and the
 * second bind then fails with EADDRINUSE. Resolves with undefined when it works, else why not.
 */
export async function reusePortUnavailable (): Promise<string | undefined> {
  probed ??= probe()
  return await probed
}

async function probe (): Promise<string | undefined> {
  const first = createServer()
  const second = createServer()
  try {
    const port = await bind(first, 0)
    await bind(second, port)
    return undefined
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    return code === 'EADDRINUSE'
      ? `this Node (${process.version}) cannot share a port between listeners (net reusePort needs Node 22.12 or later)`
      : `SO_REUSEPORT failed here (${code})`
  } finally {
    first.close()
    second.close()
  }
}

async function bind (server: Server, port: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    server.once('error', reject)
    // `exclusive`: in a cluster worker too, a socket of this process's own
    server.listen({ host: '127.0.0.1', port, exclusive: true, reusePort: true } as Parameters<Server['listen']>[0], () => {
      server.off('error', reject)
      resolve((server.address() as { port: number }).port)
    })
  })
}
