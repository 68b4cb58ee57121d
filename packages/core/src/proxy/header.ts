/**
 * The PROXY protocol header (HAProxy's spec, v1 text and v2 binary) that a load balancer writes in
 * front of a connection's bytes to say who the client is. Parsing is a pure function of the bytes
 * received so far, so any split of the stream gives the same result; input is judged bad only when no
 * continuation could make it good, and nothing beyond the size limit is ever held.
 */
import { SocketAddress } from 'node:net'
import { isIPv4, isIPv6 } from 'node:net'
import { errors } from '../errors.js'

export interface ProxyEndpoint {
  /** An IP address as Node prints one (`10.0.0.1`, `::1`), or a UNIX socket path. */
  address: string
  /** Absent for UNIX sockets. */
  port?: number
}

export interface ProxyHeader {
  version: 1 | 2
  /**
   * `proxy`: the header relays a client. `local`: the proxy's own connection (a health check), or a
   * client it could not describe (v1 UNKNOWN, v2 AF_UNSPEC): the socket's own addresses stand.
   */
  command: 'proxy' | 'local'
  family: 'tcp4' | 'tcp6' | 'unix' | 'unspec'
  /** The client as the proxy saw it; absent unless `command` is `proxy` with a known family. */
  source?: ProxyEndpoint
  destination?: ProxyEndpoint
  /** Bytes the header took on the wire; the connection's own bytes start after them. */
  length: number
}

/** v1's longest line, CRLF included (the spec's bound). */
export const PROXY_V1_MAX_BYTES = 107
/** A v2 header is 16 bytes plus addresses and TLVs; real balancers send well under this. */
export const PROXY_V2_DEFAULT_MAX_BYTES = 4096
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
const V2_FIXED_BYTES = 16
/** v2 address block sizes by family (AF_INET, AF_INET6, AF_UNIX). */
const V2_ADDRESS_BYTES = { 1: 12, 2: 36, 3: 216 } as const
const UNIX_PATH_BYTES = 108

/** True when `buf` is a prefix of `of` or `of` a prefix of `buf`, over their common length. */
function agrees (buf: Buffer, of: Buffer): boolean {
  const n = Math.min(buf.length, of.length)
  return buf.subarray(0, n).equals(of.subarray(0, n))
}

/**
 * Parses the header at the start of `buf`: the header, `undefined` while more bytes are needed, or
 * an EPX_PROXY_HEADER error once the bytes cannot start a valid header.
 */
export function parseProxyHeader (buf: Buffer, maxBytes = PROXY_V2_DEFAULT_MAX_BYTES): ProxyHeader | undefined {
  if (buf.length === 0) return undefined
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf)
  if (buf[0] === PROXY_V2_SIGNATURE[0]) return parseV2(buf, maxBytes)
  throw errors.PROXY_HEADER('the connection does not start with one')
}

function parseV1 (buf: Buffer): ProxyHeader | undefined {
  if (!agrees(buf, V1_PREFIX)) throw errors.PROXY_HEADER('the connection does not start with one')
  const scan = Math.min(buf.length, PROXY_V1_MAX_BYTES)
  let end = -1
  for (let i = 0; i < scan; i++) {
    const b = buf[i]!
    if (b === 0x0d) {
      if (i + 1 >= buf.length) break // CR is the last byte so far: LF may follow
      if (buf[i + 1] !== 0x0a || i + 1 >= PROXY_V1_MAX_BYTES) throw errors.PROXY_HEADER('v1 line not ended by CRLF within 107 bytes')
      end = i
      break
    }
    if (b === 0x0a) throw errors.PROXY_HEADER('v1 line ended by a bare LF')
    if (b < 0x20 || b > 0x7e) throw errors.PROXY_HEADER('v1 line holds a non-printable byte')
  }
  if (end < 0) {
    if (buf.length >= PROXY_V1_MAX_BYTES) throw errors.PROXY_HEADER('v1 line not ended by CRLF within 107 bytes')
    return undefined
  }
  const length = end + 2
  const parts = buf.toString('latin1', 0, end).split(' ')
  const proto = parts[1]
  // UNKNOWN: the proxy could not tell; whatever follows on the line is ignored
  if (proto === 'UNKNOWN') return { version: 1, command: 'local', family: 'unspec', length }
  if (proto !== 'TCP4' && proto !== 'TCP6') throw errors.PROXY_HEADER(`v1 protocol ${JSON.stringify(proto ?? '')} is not TCP4, TCP6 or UNKNOWN`)
  if (parts.length !== 6) throw errors.PROXY_HEADER('v1 line is not "PROXY TCPx src dst sport dport"')
  const isIP = proto === 'TCP4' ? isIPv4 : isIPv6
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string]
  if (!isIP(src) || !isIP(dst)) throw errors.PROXY_HEADER(`v1 addresses are not ${proto === 'TCP4' ? 'IPv4' : 'IPv6'}`)
  return {
    version: 1,
    command: 'proxy',
    family: proto === 'TCP4' ? 'tcp4' : 'tcp6',
    source: { address: src, port: v1Port(sport) },
    destination: { address: dst, port: v1Port(dport) },
    length,
  }
}

function v1Port (text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 65535) throw errors.PROXY_HEADER(`v1 port ${JSON.stringify(text)} is not 0-65535`)
  return Number(text)
}

function parseV2 (buf: Buffer, maxBytes: number): ProxyHeader | undefined {
  if (!agrees(buf, PROXY_V2_SIGNATURE)) throw errors.PROXY_HEADER('the connection does not start with one')
  if (buf.length > 12) {
    const version = buf[12]! >> 4
    const command = buf[12]! & 0x0f
    if (version !== 2) throw errors.PROXY_HEADER(`v2 version nibble is ${version}, not 2`)
    if (command > 1) throw errors.PROXY_HEADER(`v2 command ${command} is neither LOCAL (0) nor PROXY (1)`)
  }
  if (buf.length > 13) {
    const family = buf[13]! >> 4
    const transport = buf[13]! & 0x0f
    if (family > 3) throw errors.PROXY_HEADER(`v2 address family ${family} is unknown`)
    if (transport > 2) throw errors.PROXY_HEADER(`v2 transport ${transport} is unknown`)
  }
  if (buf.length < V2_FIXED_BYTES) return undefined
  const length = V2_FIXED_BYTES + buf.readUInt16BE(14)
  if (length > maxBytes) throw errors.PROXY_HEADER(`v2 header of ${length} bytes exceeds the limit of ${maxBytes}`)
  const family = buf[13]! >> 4
  const needed = family === 0 ? 0 : V2_ADDRESS_BYTES[family as 1 | 2 | 3]
  if (length < V2_FIXED_BYTES + needed) throw errors.PROXY_HEADER(`v2 address block of ${length - V2_FIXED_BYTES} bytes is too short for its family`)
  if (buf.length < length) return undefined
  const names = ['unspec', 'tcp4', 'tcp6', 'unix'] as const
  const header: ProxyHeader = { version: 2, command: 'local', family: names[family]!, length }
  // LOCAL (health checks) and AF_UNSPEC carry no client; anything after the addresses (TLVs) is skipped
  if ((buf[12]! & 0x0f) === 0 || family === 0) return header
  header.command = 'proxy'
  const a = buf.subarray(V2_FIXED_BYTES)
  if (family === 1) {
    header.source = { address: ipv4(a.subarray(0, 4)), port: a.readUInt16BE(8) }
    header.destination = { address: ipv4(a.subarray(4, 8)), port: a.readUInt16BE(10) }
  } else if (family === 2) {
    header.source = { address: ipv6(a.subarray(0, 16)), port: a.readUInt16BE(32) }
    header.destination = { address: ipv6(a.subarray(16, 32)), port: a.readUInt16BE(34) }
  } else {
    header.source = { address: unixPath(a.subarray(0, UNIX_PATH_BYTES)) }
    header.destination = { address: unixPath(a.subarray(UNIX_PATH_BYTES, 2 * UNIX_PATH_BYTES)) }
  }
  return header
}

const ipv4 = (b: Buffer): string => `${b[0]}.${b[1]}.${b[2]}.${b[3]}`

/** Canonical text (RFC 5952, as Node prints addresses: `::1`, `::ffff:10.0.0.1`). */
function ipv6 (b: Buffer): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16))
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address
}

function unixPath (b: Buffer): string {
  const nul = b.indexOf(0)
  return b.toString('utf8', 0, nul < 0 ? b.length : nul)
}

/**
 * Accumulates a connection's first bytes until its PROXY header is complete. Holds at most the
 * header's size limit: a peer cannot make it buffer more.
 */
export class ProxyHeaderDecoder {
  private held: Buffer = Buffer.alloc(0)

  constructor (private readonly maxBytes = PROXY_V2_DEFAULT_MAX_BYTES) {}

  /** Bytes held while the header is incomplete. */
  get buffered (): number { return this.held.length }

  /**
   * Feeds bytes. Returns the header and whatever followed it in the bytes fed (the connection's own
   * data) once complete, `undefined` while more is needed; throws EPX_PROXY_HEADER on bad input.
   */
  push (chunk: Buffer): { header: ProxyHeader, rest: Buffer } | undefined {
    const buf = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk])
    const header = parseProxyHeader(buf, this.maxBytes)
    if (header === undefined) {
      // parseProxyHeader only asks for more below both limits, so this copy stays small
      this.held = Buffer.from(buf)
      return undefined
    }
    this.held = Buffer.alloc(0)
    return { header, rest: buf.subarray(header.length) }
  }
}
