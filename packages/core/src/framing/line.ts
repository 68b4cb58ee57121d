import type { Codec, Decoder, FramingLimits } from './codec.js'
import type { Reply } from '../handler.js'
import { toBuffer } from './codec.js'
import { errors } from '../errors.js'

const LF = 0x0a
const CR = 0x0d

/**
 * `line`: messages end with `\n` (a preceding `\r` is dropped). The message excludes the terminator.
 * A line longer than `maxMessageBytes` is an error as soon as that many bytes arrive without a `\n`,
 * so a client cannot make the server buffer an endless line.
 */
class LineDecoder implements Decoder<Buffer> {
  private parts: Buffer[] = []
  private partsLength = 0
  constructor (private readonly max: number) {}

  get buffered (): number { return this.partsLength }

  push (chunk: Buffer): Buffer[] {
    const out: Buffer[] = []
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(LF, start)
      if (nl === -1) break
      let line: Buffer
      if (this.partsLength === 0) {
        line = chunk.subarray(start, nl)
      } else {
        this.parts.push(chunk.subarray(start, nl))
        line = Buffer.concat(this.parts, this.partsLength + nl - start)
        this.parts = []
        this.partsLength = 0
      }
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1)
      if (line.length > this.max) throw errors.LINE_TOO_LONG(this.max)
      out.push(line)
      start = nl + 1
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start)
      this.partsLength += rest.length
      // +1: a maximal line may still be followed by the `\r` of its `\r\n`
      if (this.partsLength > this.max + 1) throw errors.LINE_TOO_LONG(this.max)
      // copy: the socket may reuse or the caller may hold `chunk`; keep only what we need
      this.parts.push(Buffer.from(rest))
    }
    return out
  }
}

export const lineCodec: Codec<Buffer, Reply> = {
  decoder: (limits: FramingLimits) => new LineDecoder(limits.maxMessageBytes),
  encode: (reply) => ({ bytes: reply == null ? null : toBuffer(reply), close: false }),
  encodePush: (data) => data,
  errorReply: () => null,
}
