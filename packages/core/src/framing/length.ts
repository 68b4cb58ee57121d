import type { Codec, Decoder, FramingLimits } from './codec.js'
import type { Reply } from '../handler.js'
import { toBuffer } from './codec.js'
import { errors } from '../errors.js'

export const LENGTH_HEADER_BYTES = 4

/**
 * `length`: a 4-byte big-endian unsigned length, then that many payload bytes (the seeds' answer to
 * sticky packets). The claimed size is checked against the limit before anything of that size is
 * allocated, so a header claiming 2 GiB costs nothing.
 */
class LengthDecoder implements Decoder<Buffer> {
  private parts: Buffer[] = []
  private partsLength = 0
  constructor (private readonly max: number) {}

  get buffered (): number { return this.partsLength }

  push (chunk: Buffer): Buffer[] {
    let buf = chunk
    if (this.partsLength > 0) {
      this.parts.push(chunk)
      this.partsLength += chunk.length
      // wait without concatenating until the whole frame is here (avoids O(n^2) on big frames)
      if (this.partsLength >= LENGTH_HEADER_BYTES) {
        if (this.parts[0]!.length < LENGTH_HEADER_BYTES) {
          // the header itself was split: join once, so later chunks find it whole in parts[0]
          // (re-joining on every chunk was quadratic when a big frame then trickled in)
          this.parts = [Buffer.concat(this.parts, this.partsLength)]
        }
        const size = this.check(this.parts[0]!.readUInt32BE(0))
        if (this.partsLength < LENGTH_HEADER_BYTES + size) return []
      } else {
        return []
      }
      buf = Buffer.concat(this.parts, this.partsLength)
      this.parts = []
      this.partsLength = 0
    }
    const out: Buffer[] = []
    let offset = 0
    while (buf.length - offset >= LENGTH_HEADER_BYTES) {
      const size = this.check(buf.readUInt32BE(offset))
      if (buf.length - offset - LENGTH_HEADER_BYTES < size) break
      out.push(buf.subarray(offset + LENGTH_HEADER_BYTES, offset + LENGTH_HEADER_BYTES + size))
      offset += LENGTH_HEADER_BYTES + size
    }
    if (offset < buf.length) {
      const rest = Buffer.from(buf.subarray(offset))
      this.parts = [rest]
      this.partsLength = rest.length
    }
    return out
  }

  private check (size: number): number {
    if (size > this.max) throw errors.FRAME_TOO_LARGE(size, this.max)
    return size
  }
}

export function encodeLengthFrame (payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(LENGTH_HEADER_BYTES + payload.length)
  frame.writeUInt32BE(payload.length, 0)
  payload.copy(frame, LENGTH_HEADER_BYTES)
  return frame
}

export const lengthCodec: Codec<Buffer, Reply> = {
  decoder: (limits: FramingLimits) => new LengthDecoder(limits.maxMessageBytes),
  encode: (reply) => ({ bytes: reply == null ? null : encodeLengthFrame(toBuffer(reply)), close: false }),
  encodePush: encodeLengthFrame,
  errorReply: () => null,
}
