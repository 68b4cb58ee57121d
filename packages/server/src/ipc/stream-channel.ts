import type { Socket } from 'node:net'
import { deserialize, serialize } from 'node:v8'
import type { Channel } from './channel.js'

/** Bytes of the length that goes before each message. */
const HEADER = 4
/**
 * Most bytes read from one channel in one turn of the loop. libuv reads a stream up to 32 times per
 * wake-up (2 MiB of 64 KiB chunks), and the primary relays each broadcast in them to every other
 * child before it reads anything else: a child flooding its channel kept the others' heartbeats and
 * last reports unread for a second and more. Past this, the channel waits for the next turn.
 */
const READ_TURN_BYTES = 256 * 1024

/**
 * The frame of the message sent last (until the end of this turn). The primary relays a broadcast to
 * every other child, the same message object to one channel after another: it is serialized once,
 * not once per child. In fork's broadcast flood (the fault suite) a frame per child per message took
 * the primary to about 200 MiB, all garbage waiting for a collection; about 160 MiB with one frame.
 */
let lastMessage: unknown
let lastFrame: Buffer | undefined

function frame (message: unknown): Buffer {
  if (lastFrame !== undefined && message === lastMessage) return lastFrame
  const body = serialize(message)
  const framed = Buffer.allocUnsafe(HEADER + body.length)
  framed.writeUInt32BE(body.length, 0)
  body.copy(framed, HEADER)
  if (lastFrame === undefined) queueMicrotask(() => { lastMessage = undefined; lastFrame = undefined })
  lastMessage = message
  lastFrame = framed
  return framed
}

/**
 * A Channel over a plain stream socket: each message is a V8 serialization (as Node's `advanced` IPC
 * serialization, so Buffers cross as bytes) after its length. A zygote's child and the primary talk
 * over one (a socket pair the zygote made when it forked it): the child has no Node IPC channel of its
 * own, and needs none — its connection's socket it had from birth, so no handle ever rides along.
 *
 * `writer`, when given, is a second descriptor of the same socket that the messages go out on. A
 * net.Socket whose write fails (EPIPE: the other end exited) is destroyed at once, with whatever the
 * other end sent before it exited still unread in the kernel: a child's last report (`bye`) was lost
 * that way when the primary, behind a broadcast flood, relayed to the child after it left and before
 * it read its bye. With a writer of its own, a failed write closes only the writer; `socket` reads on
 * until the end, and only then does the channel close.
 */
export function streamChannel (socket: Socket, writer: Socket = socket): Channel {
  let open = !socket.destroyed
  let pending: Buffer = Buffer.alloc(0)
  const listeners: Array<(message: unknown) => void> = []
  socket.on('error', () => {}) // the other side is gone: 'close' follows
  socket.once('close', () => { open = false; writer.destroy() })
  if (writer !== socket) writer.on('error', () => {}) // the other side is gone: the reader reads what it sent, then closes
  let turnBytes = 0
  let turnEnds = false
  const nextTurn = (): void => {
    turnEnds = false
    turnBytes = 0
    if (!socket.destroyed) socket.resume()
  }
  socket.on('data', (chunk: Buffer) => {
    turnBytes += chunk.length
    if (!turnEnds) { turnEnds = true; setImmediate(nextTurn) }
    if (turnBytes >= READ_TURN_BYTES) socket.pause()
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= HEADER) {
      const length = pending.readUInt32BE(0)
      if (pending.length < HEADER + length) break
      const message = deserialize(pending.subarray(HEADER, HEADER + length))
      pending = pending.subarray(HEADER + length)
      for (const listener of listeners) listener(message)
    }
  })
  const writable = (): boolean => open && !writer.destroyed
  return {
    send (message, handle, onSent) {
      if (handle !== undefined) throw new Error('a stream channel carries no handles')
      if (!writable()) return false
      writer.write(frame(message), (err) => onSent?.(err ?? null))
      return true
    },
    isConnected: writable,
    onMessage (listener) { listeners.push(listener) },
    onClose (listener) { socket.once('close', listener) },
  }
}
