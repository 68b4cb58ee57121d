import type { Socket } from 'node:net'
import type { Logger } from '../log.js'
import type { ConnectionCounters } from '../runtime/stats.js'
import { describeError, errors } from '../errors.js'
import { ProxyAllowList } from './allow-list.js'
import { PROXY_V2_DEFAULT_MAX_BYTES, ProxyHeaderDecoder, type ProxyHeader } from './header.js'

/** `serve --proxy-protocol`: plain JSON, so it travels to child processes in their config. */
export interface ProxyProtocolOptions {
  /** CIDR blocks (or addresses) of the balancers whose headers are trusted; default: loopback. */
  allowFrom?: readonly string[]
  /** How long an allowed proxy has to send the whole header (default 5 s). */
  headerTimeoutMs?: number
  /** Largest v2 header accepted, TLVs included (v1 is bounded by its spec at 107 bytes). */
  maxHeaderBytes?: number
}

/** The client a connection reports in `ctx.remoteAddress` / `ctx.remotePort`. */
export interface Peer {
  address: string
  port: number | undefined
}

export const PROXY_HEADER_TIMEOUT_MS = 5000

/**
 * The gate in front of every connection of a server behind a PROXY-protocol balancer: a peer that is
 * not an allowed proxy is refused, an allowed one must open with a valid header, and the handler
 * sees the client the header names. No handler hook runs for a connection refused here.
 */
export class ProxyProtocolGate {
  readonly allowList: ProxyAllowList
  private readonly timeoutMs: number
  private readonly maxBytes: number

  constructor (options: ProxyProtocolOptions, private readonly logger: Logger, private readonly counters?: ConnectionCounters) {
    this.allowList = new ProxyAllowList(options.allowFrom)
    this.timeoutMs = options.headerTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS
    this.maxBytes = options.maxHeaderBytes ?? PROXY_V2_DEFAULT_MAX_BYTES
  }

  /**
   * Resolves with the client's peer once the header is read, the socket paused with the bytes after
   * the header still unread; or with `undefined` after closing a refused socket.
   */
  async admit (socket: Socket): Promise<Peer | undefined> {
    if (!this.allowList.allows(socket.remoteAddress)) {
      if (this.counters !== undefined) this.counters.protocolErrors++
      this.logger.info({ code: errors.PROXY_NOT_ALLOWED.code, remote: socket.remoteAddress }, errors.PROXY_NOT_ALLOWED(socket.remoteAddress ?? '?').message)
      socket.on('error', () => {})
      socket.destroy()
      return undefined
    }
    try {
      const header = await readProxyHeader(socket, this.timeoutMs, this.maxBytes)
      return header.source === undefined
        ? { address: socket.remoteAddress ?? 'unix', port: socket.remotePort }
        : { address: header.source.address, port: header.source.port }
    } catch (err) {
      // a balancer's TCP health check connects and closes without a byte: not worth a count
      if (socket.bytesRead > 0 && this.counters !== undefined) this.counters.protocolErrors++
      this.logger.debug({ remote: socket.remoteAddress, err: describeError(err) }, 'no valid PROXY header; closing')
      socket.on('error', () => {})
      socket.destroy()
      return undefined
    }
  }
}

/**
 * Reads a PROXY header off a socket nothing else reads yet. Resolves with it, leaving the socket
 * paused and any bytes that followed the header unshifted (the connection's first data).
 */
export async function readProxyHeader (socket: Socket, timeoutMs: number, maxBytes = PROXY_V2_DEFAULT_MAX_BYTES): Promise<ProxyHeader> {
  return await new Promise<ProxyHeader>((resolve, reject) => {
    const decoder = new ProxyHeaderDecoder(maxBytes)
    const timer = setTimeout(() => done(errors.PROXY_HEADER(`none received within ${timeoutMs} ms`)), timeoutMs)
    const onData = (chunk: Buffer): void => {
      let result: ReturnType<ProxyHeaderDecoder['push']>
      try {
        result = decoder.push(chunk)
      } catch (err) {
        done(err)
        return
      }
      if (result === undefined) return
      socket.pause()
      if (result.rest.length > 0) socket.unshift(result.rest)
      done(undefined, result.header)
    }
    const onEnd = (): void => done(errors.PROXY_HEADER('connection ended before a complete one'))
    const onError = (err: Error): void => done(err)
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('close', onEnd)
    socket.once('error', onError)
    function done (err: unknown, header?: ProxyHeader): void {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      socket.off('error', onError)
      if (header !== undefined) resolve(header)
      else reject(err)
    }
  })
}
