import { defineHandler } from '@echoplex/core'

/**
 * How many bytes at the end of `buf` start a UTF-8 character that is not complete yet. Those bytes wait
 * for the next chunk, so a character split across TCP segments is upper-cased whole.
 */
export function incompleteUtf8Tail (buf: Uint8Array): number {
  const end = buf.length
  for (let back = 1; back <= Math.min(3, end); back++) {
    const byte = buf[end - back]!
    if ((byte & 0xc0) === 0x80) continue // continuation byte: keep looking for the lead byte
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
    return need > back ? back : 0
  }
  return 0
}

/** The seeds' server: upper-cases what arrives (`hello` → `HELLO`), no newline needed. */
export default defineHandler({
  name: 'upper',
  framing: 'raw',
  onMessage (chunk, ctx) {
    // the carried tail is a number[] so it survives the pool model's structured clone of ctx.state
    const carry = ctx.state.carry as number[] | undefined
    const bytes = carry !== undefined && carry.length > 0 ? Buffer.concat([Buffer.from(carry), chunk]) : chunk
    const tail = incompleteUtf8Tail(bytes)
    ctx.state.carry = tail > 0 ? [...bytes.subarray(bytes.length - tail)] : undefined
    const whole = tail > 0 ? bytes.subarray(0, bytes.length - tail) : bytes
    return whole.length === 0 ? null : whole.toString('utf8').toUpperCase()
  },
})
