import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { errors } from '../errors.js'

/** Where a PROXY header is trusted from when the user names nothing: this machine. */
export const DEFAULT_PROXY_ALLOW_FROM: readonly string[] = ['127.0.0.0/8', '::1/128']

/** `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128): checked, normalised to `addr/prefix`. */
export function parseCidr (text: string): { address: string, prefix: number, family: 'ipv4' | 'ipv6' } {
  const [address = '', bits, extra] = text.trim().split('/')
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined
  if (family === undefined || extra !== undefined) throw errors.BAD_OPTION('--proxy-allow-from', `"${text}" is not an address or CIDR block`)
  const max = family === 'ipv4' ? 32 : 128
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max)) {
    throw errors.BAD_OPTION('--proxy-allow-from', `"${text}": prefix length must be 0-${max}`)
  }
  return { address, prefix: bits === undefined ? max : Number(bits), family }
}

/**
 * The proxies a server takes PROXY headers from. IPv4 blocks also match IPv4-mapped IPv6 peers
 * (`::ffff:10.0.0.1`, what a dual-stack listener reports).
 */
export class ProxyAllowList {
  private readonly list = new BlockList()
  readonly cidrs: readonly string[]

  constructor (cidrs: readonly string[] = DEFAULT_PROXY_ALLOW_FROM) {
    this.cidrs = cidrs.map((text) => {
      const { address, prefix, family } = parseCidr(text)
      this.list.addSubnet(address, prefix, family)
      return `${address}/${prefix}`
    })
  }

  /** `undefined` is a UNIX-socket peer: a local process the socket file's permissions already let in. */
  allows (address: string | undefined): boolean {
    if (address === undefined) return true
    if (isIPv4(address)) return this.list.check(address, 'ipv4')
    if (isIPv6(address)) return this.list.check(address, 'ipv6')
    return false
  }
}
