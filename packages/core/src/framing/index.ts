import type { Codec } from './codec.js'
import type { Framing } from '../handler.js'
import { rawCodec } from './raw.js'
import { lineCodec } from './line.js'
import { lengthCodec } from './length.js'
import { httpCodec } from './http.js'

export * from './codec.js'
export { rawCodec } from './raw.js'
export { lineCodec } from './line.js'
export { lengthCodec, encodeLengthFrame, LENGTH_HEADER_BYTES } from './length.js'
export { httpCodec, type HttpRequest, type HttpResponse } from './http.js'

const codecs: Record<Framing, Codec<any, any>> = { raw: rawCodec, line: lineCodec, length: lengthCodec, http: httpCodec }

export function codecFor (framing: Framing): Codec<any, any> {
  return codecs[framing]
}
