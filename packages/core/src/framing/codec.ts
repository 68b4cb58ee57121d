/**
 * A codec turns one connection's byte stream into messages and replies into bytes. Decoders keep the
 * partial message between chunks, so any split of the stream (1-byte chunks, many frames in one chunk)
 * yields the same messages. A decoder throws an EchoplexError on a protocol violation; the connection
 * then writes `errorReply` (where the framing has one) and closes.
 */
import type { EchoplexError } from '../errors.js'

export interface FramingLimits {
  /** Largest message (line, frame payload or HTTP body) accepted, in bytes. */
  maxMessageBytes: number
  /** Largest HTTP request head (request line + headers), in bytes. */
  maxHeaderBytes: number
}

export interface Decoder<M> {
  /** Feeds bytes; returns every message completed by them, in order. */
  push (chunk: Buffer): M[]
  /** Bytes held for a message not yet complete (used by the partial-frame timeout). */
  readonly buffered: number
}

export interface Encoded {
  bytes: Buffer | null
  /** True when the protocol says the connection ends after this reply (HTTP `Connection: close`). */
  close: boolean
}

export interface Codec<M, R> {
  decoder (limits: FramingLimits): Decoder<M>
  /**
   * Frames a reply to `message`. `closing`: the server will close the connection after this reply
   * (a graceful stop); a framing that can tell the client so (HTTP's `Connection: close`) does.
   */
  encode (reply: R, message: M, closing?: boolean): Encoded
  /** Frames data sent outside a reply (`ctx.send`, `ctx.broadcast`). */
  encodePush (data: Buffer): Buffer
  /** The bytes to write before closing on a decode error or a failed handler, if the framing has any. */
  errorReply (err: EchoplexError | undefined, kind: 'decode' | 'handler'): Buffer | null
}

export function toBuffer (data: string | Uint8Array): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}
