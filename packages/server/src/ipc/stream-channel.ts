import type { Socket } from 'node:net'
import { deserialize, serialize } from 'node:v8'
import type { Channel } from './channel.js'

/** Bytes of the length that goes before each message. */
const HEADER = 4

/**
 * A Channel over a plain stream socket: each message is a V8 serialization (as Node's `advanced` IPC
 * serialization, so Buffers cross as bytes) after its length. A zygote's child and the primary talk
 * over one (a socket pair the zygote made when it forked it): the child has no Node IPC channel of its
 * own, and needs none — its connection's socket it had from birth, so no handle ever rides along.
 */
export function streamChannel (socket: Socket): Channel {
  let open = !socket.destroyed
  let pending: Buffer = Buffer.alloc(0)
  const listeners: Array<(message: unknown) => void> = []
  socket.on('error', () => {}) // the other side is gone: 'close' follows
  socket.once('close', () => { open = false })
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= HEADER) {
      const length = pending.readUInt32BE(0)
      if (pending.length < HEADER + length) break
      const message = deserialize(pending.subarray(HEADER, HEADER + length))
      pending = pending.subarray(HEADER + length)
      for (const listener of listeners) listener(message)
    }
  })
  return {
    send (message, handle, onSent) {
      if (handle !== undefined) throw new Error('a stream channel carries no handles')
      if (!open) return false
      const body = serialize(message)
      const header = Buffer.allocUnsafe(HEADER)
      header.writeUInt32BE(body.length, 0)
      socket.write(Buffer.concat([header, body]), (err) => onSent?.(err ?? null))
      return true
    },
    isConnected: () => open,
    onMessage (listener) { listeners.push(listener) },
    onClose (listener) { socket.once('close', listener) },
  }
}
