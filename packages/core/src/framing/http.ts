/**
 * `http`: a small hand-written HTTP/1.1 server-side codec — enough for autocannon, wrk, undici/fetch
 * and curl, with no dependencies.
 *
 * Decoding is incremental and line based: the head, chunk-size lines and trailers are parsed one line
 * at a time as each `\n` arrives, so nothing is rescanned; only an incomplete line is kept between
 * chunks, and the next chunk is searched from its own start. The common case — a whole `\r\n` head inside one chunk — is decoded to a single string
 * and split there (same line logic). Bodies are collected as views of the chunks and concatenated
 * once, when complete. Pipelined requests in one chunk all come out, in order. After a request that
 * closes the connection, further input is ignored. Header objects have a null prototype.
 *
 * `Expect: 100-continue` is not answered (the codec cannot write before the reply); clients that
 * send it (curl, for large bodies) wait their timeout, then send the body anyway.
 *
 * Strict where RFC 9112 and node:http (llhttp) are: every line of the head, every chunk-size line,
 * the line after chunk data and every trailer line ends in `\r\n` (a bare `\n` is refused; only the
 * empty lines a client may send before a request line are tolerated with a bare `\n`, as node:http
 * does); an HTTP/1.1 request must carry `Host`; the request target is visible ASCII only; chunk
 * extensions follow the RFC grammar (`;name`, `;name=token`, `;name="quoted"`, with optional
 * whitespace around `;` and `=`) and are ignored; `Content-Length` is one run of digits (leading
 * zeros fine) in one header line — a repeated or comma-listed Content-Length is refused even when
 * the values agree (node:http does the same; RFC 9112 §6.3 allows it).
 *
 * Errors (thrown from `push`, turned into a response by `errorReply`):
 * - EPX_HTTP_BAD_REQUEST → 400: malformed request line / header / chunk, bare `\n` line ending, bad
 *   or repeated Content-Length, unsupported HTTP version, HTTP/1.1 without Host, both Content-Length
 *   and Transfer-Encoding.
 * - EPX_HTTP_BODY_TOO_LARGE → 413: Content-Length (checked on the head, before any body is read) or
 *   the cumulative chunked size (checked on each chunk-size line) over `maxMessageBytes`.
 * - EPX_HTTP_HEADERS_TOO_LARGE → 431: head (or trailers) over `maxHeaderBytes`.
 * - EPX_HTTP_UNSUPPORTED → 501: a transfer coding other than `chunked`; the `CONNECT` method (no
 *   tunnels here — node:http without a 'connect' listener just drops the connection).
 * - EPX_FRAME_TIMEOUT → 408 (raised by the connection runtime).
 */
import type { Codec, Decoder, FramingLimits } from './codec.js'
import type { Reply } from '../handler.js'
import type { EchoplexError } from '../errors.js'
import { errors } from '../errors.js'

export interface HttpRequest {
  method: string
  /** Request target as sent, e.g. `/path?q=1`. */
  url: string
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string
  /** Header names lower-cased; repeated headers joined with `, `. */
  headers: Record<string, string>
  body: Buffer
  /** Whether the connection stays open after the response (HTTP/1.1 default, `Connection` header). */
  keepAlive: boolean
}

export interface HttpResponse {
  status?: number
  headers?: Record<string, string | number>
  body?: string | Uint8Array
}

const LF = 0x0a
const CR = 0x0d
const EMPTY = Buffer.alloc(0)
const END_OF_HEAD = Buffer.from('\r\n\r\n')
/** Longest chunk-size line (size + extensions) accepted. */
const MAX_CHUNK_LINE = 4096

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Control characters other than HTAB (obs-text, 0x80-0xff, is allowed, as latin1). */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/
/** RFC 9112 §3.2: the target is visible ASCII (no controls, space, DEL or bytes above 0x7e). */
const BAD_TARGET = /[^\x21-\x7e]/
const HEX = /^[0-9a-fA-F]+$/
const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]"
/** quoted-string (RFC 9110 §5.6.4): qdtext or `\`-escaped pairs, obs-text allowed. */
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"'
/**
 * chunk-size [ chunk-ext ] (RFC 9112 §7.1.1): `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted ) ] )`.
 * Tokens, `;`, `=`, `"` and whitespace are disjoint, so this cannot backtrack badly on a long line.
 */
const CHUNK_LINE = new RegExp(`^([0-9a-fA-F]+)(?:[ \\t]*;[ \\t]*${TCHAR}+(?:[ \\t]*=[ \\t]*(?:${TCHAR}+|${QUOTED}))?)*$`)
const HTTP_1X = /^HTTP\/1\.[0-9]$/

const State = {
  /** Reading request line and headers. */
  Head: 0,
  /** Reading a Content-Length body. */
  Body: 1,
  /** Reading a chunk-size line. */
  ChunkSize: 2,
  /** Reading chunk data. */
  ChunkData: 3,
  /** Reading the (empty) line that ends chunk data. */
  ChunkEnd: 4,
  /** Reading trailer lines after the last chunk. */
  Trailers: 5,
  /** After a request that closes the connection: further input is discarded (RFC 9112 §9.6). */
  Closed: 6,
} as const
type State = typeof State[keyof typeof State]

function bad (why: string): EchoplexError {
  return errors.HTTP_BAD_REQUEST(why)
}

function isOws (c: number): boolean {
  return c === 0x20 || c === 0x09
}

/** Trims spaces and tabs only (String#trim would also eat latin1 0xa0 and friends). */
function trimOws (s: string): string {
  let a = 0
  let b = s.length
  while (a < b && isOws(s.charCodeAt(a))) a++
  while (b > a && isOws(s.charCodeAt(b - 1))) b--
  return a === 0 && b === s.length ? s : s.slice(a, b)
}

/** Comma-separated list tokens, lower-cased, empty elements dropped. */
function listTokens (value: string): string[] {
  const out: string[] = []
  for (const part of value.split(',')) {
    const token = trimOws(part).toLowerCase()
    if (token !== '') out.push(token)
  }
  return out
}

class HttpDecoder implements Decoder<HttpRequest> {
  private state: State = State.Head
  /** The incomplete line carried over between chunks (owned copy), `partialLen` bytes of it used. */
  private partial: Buffer = EMPTY
  private partialLen = 0
  /** Bytes of the current request consumed so far (head lines, chunk framing, body). */
  private held = 0
  /** Head (or trailer) bytes consumed so far, checked against maxHeaderBytes. */
  private headBytes = 0

  private method = ''
  private url = ''
  private version = ''
  private http10 = false
  /** Null prototype: a header named `constructor` or `__proto__` is just a header. */
  private headers: Record<string, string> = Object.create(null) as Record<string, string>

  private bodyParts: Buffer[] = []
  private bodyLen = 0
  /** Bytes still expected in the current Content-Length body or chunk. */
  private remaining = 0
  private keepAlive = true

  constructor (private readonly limits: FramingLimits) {}

  get buffered (): number {
    return this.state === State.Closed ? 0 : this.held + this.partialLen
  }

  push (chunk: Buffer): HttpRequest[] {
    const out: HttpRequest[] = []
    if (this.state === State.Closed) return out
    let pos = 0
    if (this.partialLen > 0) {
      // finish the carried line: only the new chunk needs searching, the carried bytes hold no `\n`
      const nl = chunk.indexOf(LF)
      if (nl === -1) {
        this.keepPartial(chunk, 0, chunk.length)
        return out
      }
      this.appendPartial(chunk, 0, nl + 1)
      const len = this.partialLen
      this.partialLen = 0
      this.line(this.partial, 0, len - 1, out)
      if (this.partial.length > 4096) this.partial = EMPTY // don't pin a large buffer on an idle connection
      pos = nl + 1
    }
    this.run(chunk, pos, out)
    return out
  }

  private run (buf: Buffer, pos: number, out: HttpRequest[]): void {
    const len = buf.length
    // once the fast path finds no head end in this buffer, it would not find one further on either:
    // don't search again (that would rescan the buffer once per line)
    let fast = true
    while (pos < len) {
      const state = this.state
      if (state === State.Body || state === State.ChunkData) {
        const n = Math.min(this.remaining, len - pos)
        this.bodyParts.push(buf.subarray(pos, pos + n))
        this.bodyLen += n
        this.held += n
        this.remaining -= n
        pos += n
        if (this.remaining === 0) {
          if (state === State.Body) this.finish(out)
          else this.state = State.ChunkEnd
        }
      } else if (state === State.Closed) {
        return
      } else {
        if (state === State.Head && fast) {
          const next = this.wholeHead(buf, pos, len, out)
          if (next !== pos) { pos = next; continue }
          fast = false
        }
        const nl = buf.indexOf(LF, pos)
        if (nl === -1) {
          this.keepPartial(buf, pos, len)
          return
        }
        this.line(buf, pos, nl, out)
        pos = nl + 1
      }
    }
  }

  /**
   * Fast path: when the rest of the head (up to `\r\n\r\n`, within the head limit) is in `buf`,
   * decode it to one string and parse its lines from there, instead of one buffer slice per line.
   * Same line logic as the slow path; returns the position after what it consumed (`pos` when the
   * fast path does not apply).
   */
  private wholeHead (buf: Buffer, pos: number, len: number, out: HttpRequest[]): number {
    const room = this.limits.maxHeaderBytes - this.headBytes
    if (len - pos < 4 || room < 4) return pos
    const window = len - pos > room ? buf.subarray(pos, pos + room) : buf
    const found = window === buf ? buf.indexOf(END_OF_HEAD, pos) : window.indexOf(END_OF_HEAD)
    if (found === -1) return pos
    const headEnd = (window === buf ? found : pos + found) + 4
    const s = buf.toString('latin1', pos, headEnd)
    let i = 0
    while (i < s.length) {
      const nl = s.indexOf('\n', i)
      const end = nl > i && s.charCodeAt(nl - 1) === CR ? nl - 1 : nl
      const done = this.headLine(s, i, end, nl + 1 - i, end !== nl, out)
      i = nl + 1
      if (done) break
    }
    return pos + i
  }

  /** Keeps the start of an incomplete line, after checking that it may still grow that far. */
  private keepPartial (buf: Buffer, start: number, end: number): void {
    if (end === start) return
    const total = this.partialLen + end - start
    switch (this.state) {
      case State.Head:
      case State.Trailers:
        if (this.headBytes + total > this.limits.maxHeaderBytes) throw errors.HTTP_HEADERS_TOO_LARGE(this.limits.maxHeaderBytes)
        break
      case State.ChunkSize:
        if (total > MAX_CHUNK_LINE) throw bad('chunk-size line too long')
        break
      case State.ChunkEnd:
        // only `\r` may precede the `\n` that ends chunk data
        if (total > 1 || buf[start] !== CR) throw bad('chunk data longer than its size')
        break
      default:
        break
    }
    this.appendPartial(buf, start, end)
  }

  private appendPartial (buf: Buffer, start: number, end: number): void {
    const total = this.partialLen + end - start
    if (this.partial.length < total) {
      const grown = Buffer.allocUnsafe(Math.max(256, total * 2))
      this.partial.copy(grown, 0, 0, this.partialLen)
      this.partial = grown
    }
    buf.copy(this.partial, this.partialLen, start, end)
    this.partialLen = total
  }

  /** One complete line: `buf[start, lf)`, `lf` being the index of its `\n` (`\r` not yet stripped). */
  private line (buf: Buffer, start: number, lf: number, out: HttpRequest[]): void {
    const lineBytes = lf + 1 - start
    const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf
    if (this.state === State.Head) {
      const line = end === start ? '' : buf.toString('latin1', start, end)
      this.headLine(line, 0, line.length, lineBytes, end !== lf, out)
      return
    }
    this.held += lineBytes
    if (end === lf) throw bad('bare LF line ending (CRLF required)')
    switch (this.state) {
      case State.ChunkSize:
        this.chunkSize(buf.toString('latin1', start, end))
        return
      case State.ChunkEnd:
        if (end !== start) throw bad('chunk data longer than its size')
        this.state = State.ChunkSize
        return
      case State.Trailers:
        this.headBytes += lineBytes
        if (this.headBytes > this.limits.maxHeaderBytes) throw errors.HTTP_HEADERS_TOO_LARGE(this.limits.maxHeaderBytes)
        if (end === start) {
          this.finish(out)
        } else {
          // trailers are validated and dropped: merging them into headers would let a body's tail
          // rewrite framing headers after the fact
          const line = buf.toString('latin1', start, end)
          this.headerLine(line, 0, line.length, null)
        }
        return
      default:
        throw new Error(`http decoder: line in state ${this.state}`)
    }
  }

  /**
   * One head line, `s[start, end)` without its terminator, `lineBytes` long with it (`crlf`: it ended
   * in `\r\n`, not a bare `\n`). True when it was the empty line that ends the head.
   */
  private headLine (s: string, start: number, end: number, lineBytes: number, crlf: boolean, out: HttpRequest[]): boolean {
    if (this.method === '') {
      // RFC 9112 §2.2: ignore empty lines before the request line (old clients send CRLF after a
      // body); they are not part of a request, so they are not counted either. A bare `\n` is
      // tolerated there, as node:http does: it frames nothing.
      if (end === start) return false
      if (!crlf) throw bad('bare LF line ending (CRLF required)')
      this.countHead(lineBytes)
      this.requestLine(s, start, end)
      return false
    }
    this.countHead(lineBytes)
    // RFC 9112 §2.2 lets a server accept a bare `\n`; node:http refuses it, and so do we: a parser in
    // front of us that reads lines differently could see other requests in the same bytes
    if (!crlf) throw bad('bare LF line ending (CRLF required)')
    if (end === start) {
      this.endOfHead(out)
      return true
    }
    this.headerLine(s, start, end, this.headers)
    return false
  }

  private countHead (lineBytes: number): void {
    this.held += lineBytes
    this.headBytes += lineBytes
    if (this.headBytes > this.limits.maxHeaderBytes) throw errors.HTTP_HEADERS_TOO_LARGE(this.limits.maxHeaderBytes)
  }

  private requestLine (s: string, start: number, end: number): void {
    const sp1 = s.indexOf(' ', start)
    const sp2 = sp1 === -1 || sp1 >= end ? -1 : s.indexOf(' ', sp1 + 1)
    if (sp2 === -1 || sp2 >= end) throw bad('request line is not "METHOD target HTTP/1.x"')
    const sp3 = s.indexOf(' ', sp2 + 1)
    if (sp3 !== -1 && sp3 < end) throw bad('request line is not "METHOD target HTTP/1.x"')
    const method = s.slice(start, sp1)
    const url = s.slice(sp1 + 1, sp2)
    const version = s.slice(sp2 + 1, end)
    if (!TOKEN.test(method)) throw bad('invalid method')
    if (url === '' || BAD_TARGET.test(url)) throw bad('invalid request target')
    if (version === 'HTTP/1.1') {
      this.http10 = false
    } else if (version === 'HTTP/1.0') {
      this.http10 = true
    } else if (HTTP_1X.test(version)) {
      this.http10 = false // a later 1.x minor version is served as 1.1 (RFC 9110 §2.5)
    } else {
      throw bad('unsupported HTTP version')
    }
    this.method = method
    this.url = url
    this.version = version
  }

  private headerLine (s: string, start: number, end: number, into: Record<string, string> | null): void {
    if (isOws(s.charCodeAt(start))) throw bad('obsolete header line folding')
    const colon = s.indexOf(':', start)
    if (colon <= start || colon >= end) throw bad('header line without a name and ":"')
    const rawName = s.slice(start, colon)
    if (!TOKEN.test(rawName)) throw bad('invalid header name')
    let a = colon + 1
    let b = end
    while (a < b && isOws(s.charCodeAt(a))) a++
    while (b > a && isOws(s.charCodeAt(b - 1))) b--
    const value = s.slice(a, b)
    if (BAD_VALUE.test(value)) throw bad('invalid character in header value')
    if (into === null) return
    const name = rawName.toLowerCase()
    const prev = into[name]
    into[name] = prev === undefined ? value : prev + ', ' + value
  }

  private endOfHead (out: HttpRequest[]): void {
    const h = this.headers
    // no tunnels: refuse (501) and close rather than read tunnel bytes as the next request
    if (this.method === 'CONNECT') throw errors.HTTP_UNSUPPORTED('the CONNECT method')
    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host (1.0 may omit it)
    if (!this.http10 && h['host'] === undefined) throw bad('HTTP/1.1 request without Host')
    const connection = h['connection']
    let keepAlive = !this.http10
    if (connection === 'keep-alive' || connection === 'Keep-Alive') {
      keepAlive = true
    } else if (connection === 'close' || connection === 'Close') {
      keepAlive = false
    } else if (connection !== undefined) {
      const tokens = listTokens(connection)
      if (tokens.includes('close')) keepAlive = false
      else if (this.http10 && tokens.includes('keep-alive')) keepAlive = true
    }
    this.keepAlive = keepAlive

    const te = h['transfer-encoding']
    const cl = h['content-length']
    if (te !== undefined) {
      if (cl !== undefined) throw bad('both Content-Length and Transfer-Encoding')
      const codings = listTokens(te)
      if (codings.length === 0 || codings[codings.length - 1] !== 'chunked') throw bad('Transfer-Encoding does not end with chunked')
      if (codings.length > 1) {
        if (codings.indexOf('chunked') !== codings.length - 1) throw bad('chunked applied more than once')
        throw errors.HTTP_UNSUPPORTED(`transfer coding ${codings[0]!}`)
      }
      // an HTTP/1.0 message with Transfer-Encoding is suspect (RFC 9112 §6.1): serve it, then close
      if (this.http10) this.keepAlive = false
      this.headBytes = 0 // trailers get a budget of their own
      this.state = State.ChunkSize
      return
    }
    if (cl !== undefined) {
      const size = parseContentLength(cl)
      if (size > this.limits.maxMessageBytes) throw errors.HTTP_BODY_TOO_LARGE(size, this.limits.maxMessageBytes)
      if (size > 0) {
        this.remaining = size
        this.state = State.Body
        return
      }
    }
    this.finish(out)
  }

  private chunkSize (line: string): void {
    if (line.length > MAX_CHUNK_LINE) throw bad('chunk-size line too long')
    let sizeText = line
    if (line.indexOf(';') !== -1) {
      // extensions are checked against the grammar (a bare `;` has an empty name), then ignored
      const m = CHUNK_LINE.exec(line)
      if (m === null) throw bad('invalid chunk size or chunk extension')
      sizeText = m[1]!
    }
    if (!HEX.test(sizeText)) throw bad('invalid chunk size')
    const digits = sizeText.replace(/^0+(?=.)/, '')
    const max = this.limits.maxMessageBytes
    // more than 12 hex digits is beyond any sane limit (and beyond exact double arithmetic soon after)
    const size = digits.length > 12 ? Number.MAX_SAFE_INTEGER : parseInt(digits, 16)
    if (size === 0) {
      this.state = State.Trailers
      return
    }
    const total = this.bodyLen + size
    if (total > max) throw errors.HTTP_BODY_TOO_LARGE(total, max)
    this.remaining = size
    this.state = State.ChunkData
  }

  private finish (out: HttpRequest[]): void {
    const parts = this.bodyParts
    const body = parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.bodyLen)
    out.push({
      method: this.method,
      url: this.url,
      version: this.version,
      headers: this.headers,
      body,
      keepAlive: this.keepAlive,
    })
    const keepAlive = this.keepAlive
    this.method = ''
    this.url = ''
    this.version = ''
    this.headers = Object.create(null) as Record<string, string>
    if (parts.length > 0) this.bodyParts = []
    this.bodyLen = 0
    this.remaining = 0
    this.keepAlive = true
    this.held = 0
    this.headBytes = 0
    this.state = keepAlive ? State.Head : State.Closed
    if (!keepAlive) {
      this.partial = EMPTY
      this.partialLen = 0
    }
  }
}

/**
 * Content-Length: one run of digits, leading zeros allowed. Repeated header lines arrive joined with
 * `, `, so a comma means more than one value: refused even when they agree, as node:http (llhttp)
 * does — RFC 9112 §6.3 allows either refusing or collapsing equal values, and refusing leaves no
 * room for a proxy in front of us to have framed the message differently.
 */
function parseContentLength (value: string): number {
  if (value.includes(',')) throw bad('more than one Content-Length')
  const text = value
  if (text === '' || !/^[0-9]+$/.test(text)) throw bad('invalid Content-Length')
  // beyond 15 digits the exact value no longer matters: it is over any limit
  return text.length > 15 ? Number.MAX_SAFE_INTEGER : Number(text)
}

// ---------------------------------------------------------------------------------------------------
// encoding

const REASONS: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 103: 'Early Hints',
  200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information', 204: 'No Content',
  205: 'Reset Content', 206: 'Partial Content',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Content Too Large',
  414: 'URI Too Long', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 417: 'Expectation Failed',
  418: "I'm a teapot", 421: 'Misdirected Request', 422: 'Unprocessable Content', 425: 'Too Early',
  426: 'Upgrade Required', 428: 'Precondition Required', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large', 451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout', 505: 'HTTP Version Not Supported', 507: 'Insufficient Storage',
}

const statusLines = new Map<number, string>()
function statusLine (status: number): string {
  let line = statusLines.get(status)
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${REASONS[status] ?? ''}\r\n`
    statusLines.set(status, line)
  }
  return line
}

let dateSecond = -1
let dateHeader = ''
/** `Date: ...\r\n`, regenerated at most once a second. */
function dateLine (): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateHeader = `Date: ${new Date(second * 1000).toUTCString()}\r\n`
  }
  return dateHeader
}

const TEXT_PLAIN = 'Content-Type: text/plain; charset=utf-8\r\n'
const KEEP_ALIVE = 'Connection: keep-alive\r\n'
const CLOSE = 'Connection: close\r\n'
/** Header values we never take from a handler: framing is ours. */
const OWN_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection'])

function isHttpResponse (reply: unknown): reply is HttpResponse {
  return typeof reply === 'object' && reply !== null && !(reply instanceof Uint8Array)
}

/** One buffer: `head` (latin1) followed by `body`. */
function assemble (head: string, body: string | Uint8Array | null, bodyLen: number): Buffer {
  const headLen = head.length // latin1: one byte per char (validated)
  const out = Buffer.allocUnsafe(headLen + bodyLen)
  out.write(head, 0, headLen, 'latin1')
  if (bodyLen > 0 && body !== null) {
    if (typeof body === 'string') out.write(body, headLen, bodyLen, 'utf8')
    else out.set(body, headLen)
  }
  return out
}

class InvalidResponse extends Error {}

function encodeResponse (reply: unknown, request: HttpRequest | undefined, closing: boolean): { bytes: Buffer, close: boolean } {
  let keepAlive = !closing && (request === undefined || request === null ? true : request.keepAlive !== false)
  const head = request?.method === 'HEAD'
  let status = 200
  let body: string | Uint8Array | null = null
  let extra = ''
  let hasContentType = false
  if (typeof reply === 'string' || reply instanceof Uint8Array) {
    body = reply
  } else if (isHttpResponse(reply)) {
    if (reply.status !== undefined) {
      status = reply.status
      if (!Number.isInteger(status) || status < 100 || status > 999) throw new InvalidResponse(`invalid status ${String(status)}`)
    }
    const b = reply.body
    if (typeof b === 'string' || b instanceof Uint8Array) body = b
    else if (b !== undefined && b !== null) throw new InvalidResponse('body must be a string or Uint8Array')
    const headers = reply.headers
    if (headers !== undefined && headers !== null) {
      for (const name of Object.keys(headers)) {
        const raw = headers[name]
        if (raw === undefined) continue
        if (!TOKEN.test(name)) throw new InvalidResponse(`invalid header name ${JSON.stringify(name)}`)
        const value = String(raw)
        // CR/LF would let a value inject headers; > 0xff cannot be written as latin1
        if (BAD_VALUE.test(value) || /[^\x00-\xff]/.test(value)) throw new InvalidResponse(`invalid value for header ${name}`)
        const lower = name.toLowerCase()
        if (OWN_HEADERS.has(lower)) {
          if (lower === 'connection' && listTokens(value).includes('close')) keepAlive = false
          continue
        }
        if (lower === 'content-type') hasContentType = true
        extra += name + ': ' + value + '\r\n'
      }
    }
  } else if (reply !== null && reply !== undefined) {
    throw new InvalidResponse(`unsupported reply type ${typeof reply}`)
  }

  // 1xx, 204 and 304 responses carry no body (and 1xx/204 no Content-Length)
  const noBody = status < 200 || status === 204 || status === 304
  let bodyLen = 0
  if (body !== null && !noBody) bodyLen = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength
  let text = statusLine(status) + extra
  if (typeof body === 'string' && !hasContentType && !noBody) text += TEXT_PLAIN
  // (for 304 we do not know the representation's length either, so no Content-Length there)
  if (!noBody) text += 'Content-Length: ' + bodyLen + '\r\n'
  text += dateLine() + (keepAlive ? KEEP_ALIVE : CLOSE) + '\r\n'
  // HEAD: the same head, Content-Length included, and no body bytes
  const bytes = head ? assemble(text, null, 0) : assemble(text, body, bodyLen)
  return { bytes, close: !keepAlive }
}

function statusFor (err: EchoplexError | undefined): number {
  switch (err?.code) {
    case errors.HTTP_BODY_TOO_LARGE.code: return 413
    case errors.HTTP_HEADERS_TOO_LARGE.code: return 431
    case errors.HTTP_UNSUPPORTED.code: return 501
    case 'EPX_FRAME_TIMEOUT': return 408
    case 'EPX_PARTIAL_BUDGET': return 503
    default: return 400
  }
}

function errorResponse (status: number, bodyText: string): Buffer {
  const bodyLen = Buffer.byteLength(bodyText, 'utf8')
  const text = statusLine(status) + TEXT_PLAIN + 'Content-Length: ' + bodyLen + '\r\n' + dateLine() + CLOSE + '\r\n'
  return assemble(text, bodyText, bodyLen)
}

export const httpCodec: Codec<HttpRequest, Reply | HttpResponse> = {
  decoder: (limits: FramingLimits) => new HttpDecoder(limits),

  encode (reply, request, closing = false) {
    try {
      return encodeResponse(reply, request, closing)
    } catch (err) {
      if (!(err instanceof InvalidResponse)) throw err
      // the handler returned something we cannot frame: answer 500 and close, like a failed handler
      return { bytes: errorResponse(500, `${errors.HANDLER_FAILED.code}: invalid HTTP response: ${err.message}\n`), close: true }
    }
  },

  // Data sent outside a reply (ctx.send / ctx.broadcast) has no place in HTTP/1.1: every response
  // answers exactly one request, and unsolicited bytes would corrupt the framing of the next one.
  // So pushes are dropped (an empty buffer, which the connection does not write).
  encodePush: () => EMPTY,

  errorReply (err, kind) {
    if (kind === 'handler') return errorResponse(500, `${errors.HANDLER_FAILED.code}\n`)
    const status = statusFor(err)
    const body = err === undefined ? `${errors.HTTP_BAD_REQUEST.code}\n` : `${err.code}: ${err.message}\n`
    return errorResponse(status, body)
  },
}
