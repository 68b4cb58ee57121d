import type { Socket } from 'node:net'
import type { Connection } from '@echoplex/core'
import type { Accept, SocketSource } from './socket-source.js'

/** Sockets handed over IPC by a primary that accepted them (a fork child): no listener here. */
export class HandoffSource implements SocketSource {
  private accept: Accept | undefined
  private closed = false

  async open (accept: Accept): Promise<undefined> {
    this.accept = accept
    return undefined
  }

  /** Serves a socket that arrived as a message's handle (after `preread`, if any); undefined when it was refused. */
  async take (socket: Socket, preread?: Uint8Array): Promise<Connection | undefined> {
    // the handle arrives as a plain socket; replies owed after the client's FIN must still go out
    socket.allowHalfOpen = true
    if (this.closed || this.accept === undefined) { socket.destroy(); return undefined }
    // bytes the primary read while the connection waited come first (see WaitingWatch)
    if (preread !== undefined && preread.byteLength > 0) socket.unshift(Buffer.from(preread.buffer, preread.byteOffset, preread.byteLength))
    return await this.accept(socket)
  }

  close (): void { this.closed = true }
}
