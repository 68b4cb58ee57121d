import t from 'tap'
import { httpCodec, type HttpRequest } from '../../src/framing/http.js'
import { errors, EchoplexError } from '../../src/errors.js'
import type { FramingLimits } from '../../src/framing/codec.js'

const LIMITS: FramingLimits = { maxMessageBytes: 1024, maxHeaderBytes: 512 }

function decode (input: string | Buffer, limits = LIMITS, chunkSize = 0): HttpRequest[] {
  const d = httpCodec.decoder(limits)
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input
  if (chunkSize === 0) return d.push(bytes)
  const out: HttpRequest[] = []
  for (let i = 0; i < bytes.length; i += chunkSize) out.push(...d.push(bytes.subarray(i, i + chunkSize)))
  return out
}

/** The error `push` throws for `input`, and the response `errorReply` makes of it. */
function failure (input: string | Buffer, limits = LIMITS, chunkSize = 0): { err: EchoplexError, response: ParsedResponse } {
  let err: unknown
  try {
    decode(input, limits, chunkSize)
  } catch (e) {
    err = e
  }
  if (!(err instanceof EchoplexError)) throw new Error(`expected an EchoplexError, got ${String(err)}`)
  return { err, response: parseResponse(httpCodec.errorReply(err, 'decode')!) }
}

interface ParsedResponse { status: number, reason: string, headers: Record<string, string>, body: Buffer, raw: string }

function parseResponse (bytes: Buffer): ParsedResponse {
  const end = bytes.indexOf('\r\n\r\n')
  if (end === -1) throw new Error('no end of head')
  const lines = bytes.toString('latin1', 0, end).split('\r\n')
  const m = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(lines[0]!)
  if (m === null) throw new Error(`bad status line ${lines[0]}`)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(': ')
    const name = line.slice(0, colon).toLowerCase()
    if (name in headers) throw new Error(`duplicate header ${name}`)
    headers[name] = line.slice(colon + 2)
  }
  return { status: Number(m[1]), reason: m[2]!, headers, body: bytes.subarray(end + 4), raw: bytes.toString('latin1') }
}

function request (over: Partial<HttpRequest> = {}): HttpRequest {
  return { method: 'GET', url: '/', version: 'HTTP/1.1', headers: {}, body: Buffer.alloc(0), keepAlive: true, ...over }
}

// ---------------------------------------------------------------------------------------------------
// decoding

t.test('parses a request: method, target, version, lower-cased headers, joined repeats', async (t) => {
  const [req, ...rest] = decode('GET /a/b?q=1&r=%20 HTTP/1.1\r\nHost: example.com\r\nX-Multi: one\r\nx-multi:two  \r\nX-EMPTY:\r\nAccept:\t*/*\t\r\n\r\n')
  t.equal(rest.length, 0)
  t.equal(req!.method, 'GET')
  t.equal(req!.url, '/a/b?q=1&r=%20')
  t.equal(req!.version, 'HTTP/1.1')
  t.same({ ...req!.headers }, { 'host': 'example.com', 'x-multi': 'one, two', 'x-empty': '', 'accept': '*/*' })
  t.equal(req!.body.length, 0)
  t.equal(req!.keepAlive, true)
})

t.test('headers named like Object.prototype members are plain headers', async (t) => {
  const [req] = decode('GET / HTTP/1.1\r\nHost: x\r\nConstructor: a\r\n__proto__: b\r\ntoString: c\r\n\r\n')
  t.equal(req!.headers['constructor'], 'a')
  t.equal(req!.headers['__proto__'], 'b')
  t.equal(req!.headers['tostring'], 'c')
  t.same(Object.keys(req!.headers), ['host', 'constructor', '__proto__', 'tostring'])
})

t.test('bare LF line endings → 400 in the head, chunk lines and trailers; tolerated before a request line', async (t) => {
  const chunked = 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
  const bad = [
    'GET / HTTP/1.1\nHost: x\n\n', // every line
    'GET / HTTP/1.1\nHost: x\r\n\r\n', // request line
    'GET / HTTP/1.1\r\nHost: x\n\r\n', // a header line
    'GET / HTTP/1.1\r\nHost: x\r\n\n', // the empty line ending the head
    'GET / HTTP/1.0\n\n', // HTTP/1.0 too
    chunked + '3\nabc\r\n0\r\n\r\n', // chunk-size line
    chunked + '3\r\nabc\n0\r\n\r\n', // the line after chunk data
    chunked + '3\r\nabc\r\n0\n\r\n', // last-chunk line
    chunked + '3\r\nabc\r\n0\r\nX: y\n\r\n', // a trailer line
    chunked + '3\r\nabc\r\n0\r\n\n', // the empty line ending the trailers
  ]
  for (const input of bad) {
    for (const size of [0, 1, 2]) {
      const { err, response } = failure(input, LIMITS, size)
      t.equal(err.code, 'EPX_HTTP_BAD_REQUEST', `${JSON.stringify(input)} (chunks of ${size || 'all'})`)
      t.match(err.message, /bare LF/)
      t.equal(response.status, 400)
    }
  }
  // empty lines before a request line frame nothing: CRLF or bare LF, they are skipped (as node:http does)
  t.same(decode('\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n', LIMITS, 1).map((r) => r.url), ['/a', '/b'])
  // a bare LF inside a body is just a byte
  t.equal(decode(chunked + '3\r\na\nc\r\n0\r\n\r\n')[0]!.body.toString(), 'a\nc')
})

t.test('pipelined requests come out in order, in one chunk or byte by byte', async (t) => {
  const stream = 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n' +
    'POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
    '\r\n' + // stray CRLF after a body (old clients) is ignored
    'PUT /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: yes\r\n\r\n' +
    'DELETE /4 HTTP/1.1\r\nHost: x\r\n\r\n'
  for (const size of [0, 1, 2, 7]) {
    const out = decode(stream, LIMITS, size)
    t.same(out.map((r) => `${r.method} ${r.url} ${r.body.toString()}`), ['GET /1 ', 'POST /2 hello', 'PUT /3 abcde', 'DELETE /4 '], `chunk size ${size}`)
    t.equal(out[2]!.headers['x-trailer'], undefined, 'trailers are not merged into headers')
  }
})

t.test('chunked bodies: sizes in hex, leading zeros, extensions, split everywhere', async (t) => {
  const body = 'A'.repeat(26) + 'B'.repeat(16)
  const stream = 'POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: Chunked\r\n\r\n01a ; x="y"\r\n' + 'A'.repeat(26) + '\r\n10;a=1;b;c = "q\\"\xe9" ;d\r\n' + 'B'.repeat(16) + '\r\n000;last\r\n\r\n'
  for (const size of [0, 1, 3]) {
    const out = decode(stream, LIMITS, size)
    t.equal(out.length, 1)
    t.equal(out[0]!.body.toString(), body)
  }
})

t.test('a body split across chunks is joined; buffered tracks the incomplete request', async (t) => {
  const d = httpCodec.decoder(LIMITS)
  t.equal(d.buffered, 0)
  t.same(d.push(Buffer.from('POST /u HTTP/1.1\r\nHost: x\r\nContent-Le')), [])
  t.ok(d.buffered > 0)
  t.same(d.push(Buffer.from('ngth: 10\r\n\r\n01234')), [])
  const held = d.buffered
  t.ok(held >= 5)
  const out = d.push(Buffer.from('56789GET'))
  t.equal(out.length, 1)
  t.equal(out[0]!.body.toString(), '0123456789')
  t.equal(d.buffered, 3, 'only the next request\'s start is held')
  t.equal(d.push(Buffer.from(' / HTTP/1.1\r\nHost: x\r\n\r\n')).length, 1)
  t.equal(d.buffered, 0)
  // stray empty lines between requests are not a request in progress
  d.push(Buffer.from('\r\n\r\n'))
  t.equal(d.buffered, 0)
})

t.test('keep-alive: HTTP/1.1 by default, HTTP/1.0 only when asked', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['HTTP/1.1', '', true],
    ['HTTP/1.1', 'Connection: close\r\n', false],
    ['HTTP/1.1', 'Connection: Keep-Alive\r\n', true],
    ['HTTP/1.1', 'Connection: Upgrade, CLOSE\r\n', false],
    ['HTTP/1.0', '', false],
    ['HTTP/1.0', 'Connection: keep-alive\r\n', true],
    ['HTTP/1.0', 'Connection: Keep-Alive, foo\r\n', true],
    ['HTTP/1.0', 'Connection: close\r\n', false],
  ]
  for (const [version, header, expected] of cases) {
    const [req] = decode(`GET / ${version}\r\nHost: x\r\n${header}\r\n`)
    t.equal(req!.keepAlive, expected, `${version} ${JSON.stringify(header)}`)
    t.equal(req!.version, version)
  }
})

t.test('after a request that closes the connection, further input is ignored', async (t) => {
  const d = httpCodec.decoder(LIMITS)
  const out = d.push(Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE'))
  t.same(out.map((r) => r.url), ['/a'])
  t.same(d.push(Buffer.from('GET /c HTTP/1.1\r\nHost: x\r\n\r\n')), [])
  t.equal(d.buffered, 0)
})

t.test('HTTP/1.0 with Transfer-Encoding: served, then the connection closes', async (t) => {
  const out = decode('POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n')
  t.equal(out.length, 1)
  t.equal(out[0]!.body.toString(), 'x')
  t.equal(out[0]!.keepAlive, false)
})

t.test('malformed requests → 400 with Connection: close and the error code', async (t) => {
  const bad = [
    'GET\r\n\r\n',
    'GET /\r\n\r\n',
    'GET  / HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET / HTTP/1.1 extra\r\n\r\n',
    'G(T / HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET / HTTP/2.0\r\n\r\n',
    'GET / HTTP/1\r\n\r\n',
    'GET / http/1.1\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nSpace : x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n folded\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nA: b\x00\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1.5\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n',
    // RFC 9112 strictness, as node:http (see http.node-differential.test.ts)
    'GET / HTTP/1.1\r\n\r\n', // no Host
    'GET / HTTP/1.2\r\n\r\n', // no Host (served as 1.1)
    'GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /\t HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc', // equal repeats too
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3,\r\n\r\nabc',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n', // bare ";"
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0;\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;=v\r\nabc\r\n0\r\n\r\n', // empty name
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a;;b\r\nabc\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a;\r\nabc\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\r\nabc\r\n0\r\n\r\n', // empty value
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x80\r\nabc\r\n0\r\n\r\n', // obs-text outside quotes
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a="x\r\nabc\r\n0\r\n\r\n', // unterminated quote
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b c\r\nabc\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a \r\nabc\r\n0\r\n\r\n', // trailing whitespace
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 3;a\r\nabc\r\n0\r\n\r\n', // leading whitespace
  ]
  for (const input of bad) {
    for (const size of [0, 1]) {
      const { err, response } = failure(input, LIMITS, size)
      t.equal(err.code, 'EPX_HTTP_BAD_REQUEST', `${JSON.stringify(input)} (chunks of ${size || 'all'})`)
      t.equal(response.status, 400)
    }
  }
  // leading zeros are still one valid Content-Length
  t.equal(decode('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n\r\nabc')[0]!.body.toString(), 'abc')
  t.same(decode('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n').map((r) => r.body.toString()), ['hello', ''])
  // a later HTTP/1.x minor version is served as 1.1
  t.equal(decode('GET / HTTP/1.2\r\nHost: x\r\n\r\n')[0]!.keepAlive, true)

  const { response } = failure('GET\r\n\r\n')
  t.equal(response.reason, 'Bad Request')
  t.equal(response.headers['connection'], 'close')
  t.equal(response.headers['content-length'], String(response.body.length))
  t.match(response.body.toString(), /^EPX_HTTP_BAD_REQUEST: malformed HTTP request/)
})

t.test('an unsupported transfer coding → 501', async (t) => {
  const { err, response } = failure('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n')
  t.equal(err.code, 'EPX_HTTP_UNSUPPORTED')
  t.equal(response.status, 501)
  t.equal(response.headers['connection'], 'close')
})

t.test('CONNECT → 501 and close, once its head is read (no tunnels)', async (t) => {
  for (const size of [0, 1]) {
    const { err, response } = failure('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', LIMITS, size)
    t.equal(err.code, 'EPX_HTTP_UNSUPPORTED')
    t.match(err.message, /CONNECT/)
    t.equal(response.status, 501)
    t.equal(response.headers['connection'], 'close')
  }
  // nothing is refused before the head is complete
  t.same(httpCodec.decoder(LIMITS).push(Buffer.from('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n')), [])
  // methods are case-sensitive: `connect` is some other (extension) method
  t.equal(decode('connect / HTTP/1.1\r\nHost: x\r\n\r\n')[0]!.method, 'connect')
})

t.test('Host: required for HTTP/1.1, optional for HTTP/1.0; the target is visible ASCII', async (t) => {
  t.equal(decode('GET / HTTP/1.0\r\n\r\n')[0]!.headers['host'], undefined)
  t.equal(decode('GET / HTTP/1.1\r\nHost:\r\n\r\n')[0]!.headers['host'], '', 'an empty Host is a Host')
  t.equal(decode('GET / HTTP/1.1\r\nhOsT: a\r\n\r\n')[0]!.headers['host'], 'a')
  t.match(failure('GET / HTTP/1.1\r\nX: y\r\n\r\n').err.message, /without Host/)
  // every visible ASCII byte may appear in the target (RFC 3986 validity is the handler's business)
  let visible = ''
  for (let c = 0x21; c <= 0x7e; c++) visible += String.fromCharCode(c)
  t.equal(decode(`GET /${visible} HTTP/1.1\r\nHost: x\r\n\r\n`)[0]!.url, '/' + visible)
  t.equal(decode('OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n')[0]!.url, '*')
  // and nothing else: controls, DEL, every byte above 0x7e
  for (let c = 0; c <= 0xff; c++) {
    if (c >= 0x21 && c <= 0x7e) continue
    if (c === 0x20 || c === 0x0a || c === 0x0d) continue // these split the line instead (covered above)
    const { err } = failure(`GET /a${String.fromCharCode(c)}b HTTP/1.1\r\nHost: x\r\n\r\n`)
    if (err.code !== 'EPX_HTTP_BAD_REQUEST' || !/request target/.test(err.message)) t.fail(`byte 0x${c.toString(16)} in the target: ${err.message}`)
  }
  t.pass('every byte outside 0x21-0x7e refused in the target')
})

t.test('a Content-Length over the limit → 413 on the head alone, before any body arrives', async (t) => {
  const d = httpCodec.decoder(LIMITS)
  let err: any
  try {
    d.push(Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n'))
  } catch (e) { err = e }
  t.equal(err?.code, 'EPX_HTTP_BODY_TOO_LARGE')
  const response = parseResponse(httpCodec.errorReply(err, 'decode')!)
  t.equal(response.status, 413)
  t.equal(response.headers['connection'], 'close')
  t.match(response.body.toString(), /EPX_HTTP_BODY_TOO_LARGE/)
  // absurd sizes too, and exactly the limit is fine
  t.equal(failure('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n').err.code, 'EPX_HTTP_BODY_TOO_LARGE')
  t.equal(decode(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n${'x'.repeat(1024)}`)[0]!.body.length, 1024)
})

t.test('a chunked body over the limit → 413 on the chunk-size line that crosses it', async (t) => {
  const d = httpCodec.decoder(LIMITS)
  d.push(Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n${'x'.repeat(512)}\r\n`))
  d.push(Buffer.from(`200\r\n${'x'.repeat(512)}\r\n`)) // 1024: still fine
  t.throws(() => d.push(Buffer.from('1\r\n')), { code: 'EPX_HTTP_BODY_TOO_LARGE' })
  t.equal(failure('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n').err.code, 'EPX_HTTP_BODY_TOO_LARGE')
})

t.test('a head over maxHeaderBytes → 431, without buffering past the limit', async (t) => {
  const huge = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(600)}\r\n\r\n`
  for (const size of [0, 1, 16]) {
    const { err, response } = failure(huge, LIMITS, size)
    t.equal(err.code, 'EPX_HTTP_HEADERS_TOO_LARGE', `chunks of ${size || 'all'}`)
    t.equal(response.status, 431)
    t.equal(response.headers['connection'], 'close')
  }
  // an endless header line without any newline: refused once the limit is crossed
  const d = httpCodec.decoder(LIMITS)
  let sent = 0
  t.throws(() => {
    d.push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX: '))
    for (sent = 0; sent < 10_000; sent += 10) {
      d.push(Buffer.from('abcdefghij'))
      if (d.buffered > LIMITS.maxHeaderBytes) throw new Error('held more than the limit')
    }
  }, { code: 'EPX_HTTP_HEADERS_TOO_LARGE' })
  t.ok(sent < LIMITS.maxHeaderBytes)
  // many small headers add up too
  const many = 'GET / HTTP/1.1\r\nHost: x\r\n' + 'A: b\r\n'.repeat(100) + '\r\n'
  t.equal(failure(many).err.code, 'EPX_HTTP_HEADERS_TOO_LARGE')
  // a head of exactly the limit is fine
  const line = 'GET / HTTP/1.1\r\nHost: x\r\n'
  const exact = line + 'X: ' + 'a'.repeat(LIMITS.maxHeaderBytes - line.length - 7) + '\r\n\r\n'
  t.equal(exact.length, LIMITS.maxHeaderBytes)
  t.equal(decode(exact, LIMITS, 1).length, 1)
  t.equal(failure(exact.replace('X: ', 'X: a')).err.code, 'EPX_HTTP_HEADERS_TOO_LARGE')
})

t.test('trailers have a size limit too', async (t) => {
  const input = `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ${'t'.repeat(600)}\r\n\r\n`
  t.equal(failure(input).err.code, 'EPX_HTTP_HEADERS_TOO_LARGE')
})

// ---------------------------------------------------------------------------------------------------
// encoding

t.test('encode a string: 200, UTF-8 byte length, default text/plain, keep-alive', async (t) => {
  const { bytes, close } = httpCodec.encode('héllo €', request())
  t.equal(close, false)
  const r = parseResponse(bytes!)
  t.equal(r.status, 200)
  t.equal(r.reason, 'OK')
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(r.headers['content-length'], String(Buffer.byteLength('héllo €')))
  t.equal(r.headers['connection'], 'keep-alive')
  t.match(r.headers['date'], /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/)
  t.equal(r.body.toString('utf8'), 'héllo €')
})

t.test('encode a Buffer / Uint8Array: 200, no guessed content type', async (t) => {
  for (const body of [Buffer.from([1, 2, 3]), new Uint8Array([1, 2, 3])]) {
    const r = parseResponse(httpCodec.encode(body, request()).bytes!)
    t.equal(r.status, 200)
    t.equal(r.headers['content-type'], undefined)
    t.equal(r.headers['content-length'], '3')
    t.same([...r.body], [1, 2, 3])
  }
})

t.test('encode null/undefined: 200 with an empty body', async (t) => {
  for (const reply of [null, undefined]) {
    const r = parseResponse(httpCodec.encode(reply, request()).bytes!)
    t.equal(r.status, 200)
    t.equal(r.headers['content-length'], '0')
    t.equal(r.body.length, 0)
  }
})

t.test('encode an HttpResponse: status, reason, headers, body', async (t) => {
  const r = parseResponse(httpCodec.encode({ status: 404, headers: { 'Content-Type': 'application/json', 'X-Count': 3 }, body: '{"a":1}' }, request()).bytes!)
  t.equal(r.status, 404)
  t.equal(r.reason, 'Not Found')
  t.equal(r.headers['content-type'], 'application/json', 'no second, default content type')
  t.equal(r.headers['x-count'], '3')
  t.equal(r.headers['content-length'], '7')
  t.equal(r.body.toString(), '{"a":1}')
  // framing headers are the codec's: a handler's Content-Length cannot break the framing
  const r2 = parseResponse(httpCodec.encode({ headers: { 'content-length': 99, 'Transfer-Encoding': 'chunked' }, body: 'ab' }, request()).bytes!)
  t.equal(r2.headers['content-length'], '2')
  t.equal(r2.headers['transfer-encoding'], undefined)
  // unknown status codes still get a valid status line
  t.match(httpCodec.encode({ status: 599 }, request()).bytes!.toString('latin1'), /^HTTP\/1\.1 599 \r\n/)
})

t.test('204 and 304 carry no body', async (t) => {
  const r = parseResponse(httpCodec.encode({ status: 204, body: 'ignored' }, request()).bytes!)
  t.equal(r.status, 204)
  t.equal(r.headers['content-length'], undefined)
  t.equal(r.body.length, 0)
  t.equal(parseResponse(httpCodec.encode({ status: 304, body: 'x' }, request()).bytes!).body.length, 0)
})

t.test('HEAD: the headers of the GET response, no body bytes', async (t) => {
  const bytes = httpCodec.encode('hello', request({ method: 'HEAD' })).bytes!
  const r = parseResponse(bytes)
  t.equal(r.headers['content-length'], '5')
  t.equal(r.body.length, 0)
  t.ok(bytes.toString('latin1').endsWith('\r\n\r\n'))
})

t.test('Connection header and close follow the request\'s keepAlive (and a handler\'s close)', async (t) => {
  const closing = httpCodec.encode('x', request({ keepAlive: false }))
  t.equal(closing.close, true)
  t.equal(parseResponse(closing.bytes!).headers['connection'], 'close')
  const open = httpCodec.encode('x', request({ keepAlive: true }))
  t.equal(open.close, false)
  t.equal(parseResponse(open.bytes!).headers['connection'], 'keep-alive')
  const handlerClose = httpCodec.encode({ headers: { Connection: 'close' } }, request())
  t.equal(handlerClose.close, true)
  t.equal(parseResponse(handlerClose.bytes!).headers['connection'], 'close')
})

t.test('a response that cannot be framed becomes a 500 that closes, never a throw', async (t) => {
  const invalid: unknown[] = [
    { headers: { 'X-Evil': 'a\r\nSet-Cookie: pwned' } },
    { headers: { 'Bad Name': 'x' } },
    { headers: { 'X-Wide': '€' } },
    { status: 42 },
    { status: 200.5 },
    { body: 42 },
    42,
  ]
  for (const reply of invalid) {
    const { bytes, close } = httpCodec.encode(reply as any, request())
    const r = parseResponse(bytes!)
    t.equal(r.status, 500, JSON.stringify(reply))
    t.equal(close, true)
    t.equal(r.headers['connection'], 'close')
    t.notMatch(r.raw, /pwned/)
  }
})

t.test('the response is one buffer with head and body in order', async (t) => {
  const bytes = httpCodec.encode({ status: 201, headers: { A: 'b' }, body: Buffer.from('body') }, request()).bytes!
  t.ok(Buffer.isBuffer(bytes))
  t.match(bytes.toString('latin1'), /^HTTP\/1\.1 201 Created\r\nA: b\r\nContent-Length: 4\r\nDate: [^\r]+\r\nConnection: keep-alive\r\n\r\nbody$/)
})

t.test('encodePush sends nothing: HTTP has no unsolicited data', async (t) => {
  t.equal(httpCodec.encodePush(Buffer.from('hello')).length, 0)
})

t.test('errorReply: handler failures → 500, closes; other decode errors → 400', async (t) => {
  const r = parseResponse(httpCodec.errorReply(errors.HANDLER_FAILED('boom secret'), 'handler')!)
  t.equal(r.status, 500)
  t.equal(r.reason, 'Internal Server Error')
  t.equal(r.headers['connection'], 'close')
  t.equal(r.body.toString(), 'EPX_HANDLER_FAILED\n', 'the handler\'s message is not leaked')
  t.equal(parseResponse(httpCodec.errorReply(undefined, 'decode')!).status, 400)
  t.equal(parseResponse(httpCodec.errorReply(errors.HTTP_HEADERS_TOO_LARGE(1), 'decode')!).status, 431)
  t.equal(parseResponse(httpCodec.errorReply(new EchoplexError('EPX_FRAME_TIMEOUT', 'slow'), 'decode')!).status, 408)
})

t.test('a round trip: decode requests, encode replies, in order', async (t) => {
  const d = httpCodec.decoder(LIMITS)
  const reqs = d.push(Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi'))
  const responses = reqs.map((req) => httpCodec.encode(`${req.method} ${req.url} ${req.body.toString()}`, req))
  t.same(responses.map((r) => r.close), [false, false, true])
  t.same(responses.map((r) => parseResponse(r.bytes!).body.toString()), ['GET /a ', '', 'POST /c hi'])
})
