/**
 * A test-side PROXY header writer, straight from the spec's byte layout, so the decoder is checked
 * against bytes it did not produce itself.
 */
import { isIPv4 } from 'node:net'

export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

export function v1 (family: 'TCP4' | 'TCP6', src: string, dst: string, sport: number, dport: number): Buffer {
  return Buffer.from(`PROXY ${family} ${src} ${dst} ${sport} ${dport}\r\n`, 'latin1')
}

/** IPv4 or IPv6 text → 4 or 16 bytes (expands `::`). */
export function ipBytes (address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number))
  const [head = '', tail] = address.split('::')
  // a dotted IPv4 tail (`::ffff:10.0.0.1`) is two groups
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').flatMap((g) => {
    if (!isIPv4(g)) return [parseInt(g, 16)]
    const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number]
    return [(a << 8) | b, (c << 8) | d]
  }))
  const left = part(head)
  const right = tail === undefined ? [] : part(tail)
  const groups = [...left, ...Array(8 - left.length - right.length).fill(0), ...right]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2))
  return out
}

export interface V2Spec {
  command: 0 | 1
  family: 0 | 1 | 2 | 3
  transport?: 0 | 1 | 2
  src?: string
  dst?: string
  sport?: number
  dport?: number
  /** Bytes after the address block (TLVs, padding): skipped by the decoder. */
  tlvs?: Buffer
}

export function v2 (spec: V2Spec): Buffer {
  let addresses = Buffer.alloc(0)
  if (spec.family === 1 || spec.family === 2) {
    const ports = Buffer.alloc(4)
    ports.writeUInt16BE(spec.sport ?? 0, 0)
    ports.writeUInt16BE(spec.dport ?? 0, 2)
    addresses = Buffer.concat([ipBytes(spec.src!), ipBytes(spec.dst!), ports])
  } else if (spec.family === 3) {
    addresses = Buffer.alloc(216)
    addresses.write(spec.src ?? '', 0, 107, 'utf8')
    addresses.write(spec.dst ?? '', 108, 107, 'utf8')
  }
  const body = Buffer.concat([addresses, spec.tlvs ?? Buffer.alloc(0)])
  const fixed = Buffer.alloc(4)
  fixed[0] = 0x20 | spec.command
  fixed[1] = (spec.family << 4) | (spec.transport ?? (spec.family === 0 ? 0 : 1))
  fixed.writeUInt16BE(body.length, 2)
  return Buffer.concat([V2_SIGNATURE, fixed, body])
}

/** A TLV: type, 2-byte length, value. */
export function tlv (type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3)
  head[0] = type
  head.writeUInt16BE(value.length, 1)
  return Buffer.concat([head, value])
}
