import type { Codec, Decoder } from './codec.js'
import type { Reply } from '../handler.js'
import { toBuffer } from './codec.js'

/** `raw`: every chunk is a message, as the kernel delivered it. */
export const rawCodec: Codec<Buffer, Reply> = {
  decoder (): Decoder<Buffer> {
    return { push: (chunk) => chunk.length === 0 ? [] : [chunk], buffered: 0 }
  },
  encode: (reply) => ({ bytes: reply == null ? null : toBuffer(reply), close: false }),
  encodePush: (data) => data,
  errorReply: () => null,
}
