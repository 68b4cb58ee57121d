/**
 * Differential test: the same request bytes go to a real node:http server on loopback and to the
 * echoplex `http` codec; both must accept (and see the same body) or both refuse. node:http (llhttp)
 * is the reference for where RFC 9112 leaves a server the choice (bare LF, repeated Content-Length).
 * The few places where echoplex deliberately differs are listed below, each with its reason.
 */
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { httpCodec } from '../../src/framing/http.js'
import { EchoplexError } from '../../src/errors.js'
import type { FramingLimits } from '../../src/framing/codec.js'

const LIMITS: FramingLimits = { maxMessageBytes: 64 * 1024, maxHeaderBytes: 16 * 1024 }
/** How long a node:http connection may take to answer and close before the case fails. */
const NODE_ANSWER_MS = 5000

type Verdict = 'accept' | 'reject'

interface Outcome {
  verdict: Verdict
  /** Status line's code, or null when the connection closed without a response. */
  status: number | null
  /** Request body as the server saw it (accepted requests only). */
  body: string | null
}

const CHUNKED = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'

/** Cases where echoplex and node:http must agree, with what both are expected to do. */
const AGREED: Array<[string, string, Verdict]> = [
  // Host
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 'reject'],
  ['HTTP/1.1 with other headers, no Host', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 'reject'],
  ['HTTP/1.2 (served as 1.1) without Host', 'GET / HTTP/1.2\r\n\r\n', 'reject'],
  ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', 'accept'],
  ['HTTP/1.1 with an empty Host', 'GET / HTTP/1.1\r\nHost:\r\n\r\n', 'accept'],
  ['HTTP/1.1 with Host', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'accept'],
  // bare LF in the head
  ['bare LF everywhere in the head', 'GET / HTTP/1.1\nHost: a\n\n', 'reject'],
  ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'reject'],
  ['bare LF after a header line', 'GET / HTTP/1.1\r\nHost: a\n\r\n', 'reject'],
  ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 'reject'],
  ['HTTP/1.0 with bare LF', 'GET / HTTP/1.0\n\n', 'reject'],
  ['bare LF empty line before the request line', '\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 'accept'],
  ['CRLF empty line before the request line', '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 'accept'],
  // bare LF in chunk lines and trailers
  ['bare LF after a chunk size', CHUNKED + '3\nabc\r\n0\r\n\r\n', 'reject'],
  ['bare LF after chunk data', CHUNKED + '3\r\nabc\n0\r\n\r\n', 'reject'],
  ['bare LF after the last chunk', CHUNKED + '3\r\nabc\r\n0\n\r\n', 'reject'],
  ['bare LF after a trailer line', CHUNKED + '3\r\nabc\r\n0\r\nX: y\n\r\n', 'reject'],
  ['bare LF ending the trailers', CHUNKED + '3\r\nabc\r\n0\r\n\n', 'reject'],
  ['CRLF trailers', CHUNKED + '3\r\nabc\r\n0\r\nX: y\r\n\r\n', 'accept'],
  ['LF inside chunk data (a data byte)', CHUNKED + '3\r\na\nc\r\n0\r\n\r\n', 'accept'],
  // chunk extensions
  ['bare ";" chunk extension', CHUNKED + '3;\r\nabc\r\n0\r\n\r\n', 'reject'],
  ['";" with nothing after a named extension', CHUNKED + '3;a=1;\r\nabc\r\n0\r\n\r\n', 'reject'],
  ['bare ";" on the last chunk', CHUNKED + '3\r\nabc\r\n0;\r\n\r\n', 'reject'],
  ['unquoted obs-text in an extension value', CHUNKED + '3;a=\x80\r\nabc\r\n0\r\n\r\n', 'reject'],
  ['extension ;name=value', CHUNKED + '3;name=value\r\nabc\r\n0\r\n\r\n', 'accept'],
  ['extension ;name', CHUNKED + '3;name\r\nabc\r\n0\r\n\r\n', 'accept'],
  ['extension with a quoted value', CHUNKED + '3;name="v a;l"\r\nabc\r\n0\r\n\r\n', 'accept'],
  ['several extensions, on the last chunk too', CHUNKED + '3;a=1;b\r\nabc\r\n0;z\r\n\r\n', 'accept'],
  // request target
  ['0x80 in the target', 'GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n', 'reject'],
  ['0xff in the target', 'GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n', 'reject'],
  ['0xe9 in the target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 'reject'],
  ['DEL in the target', 'GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n', 'reject'],
  ['0x01 in the target', 'GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n', 'reject'],
  ['HTAB in the target', 'GET /\t HTTP/1.1\r\nHost: a\r\n\r\n', 'reject'],
  ['visible ASCII punctuation in the target', 'GET /"<>{}|\\^`~!$&\'()*+,;=:@[] HTTP/1.1\r\nHost: a\r\n\r\n', 'accept'],
  ['asterisk-form target', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', 'accept'],
  // CONNECT
  ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'reject'],
  // Content-Length
  ['Content-Length with leading zeros', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello', 'accept'],
  ['Content-Length: 0000', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000\r\n\r\n', 'accept'],
  ['two equal Content-Length headers', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 'reject'],
  ['an equal Content-Length list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc', 'reject'],
  ['two different Content-Length headers', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 'reject'],
  ['Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'reject'],
]

/**
 * Where echoplex deliberately parts from node:http: chunk extensions follow the RFC 9112 §7.1.1
 * grammar exactly. node:http refuses the optional whitespace (BWS) the grammar allows around `;` and
 * `=`, and lets through some extensions the grammar has no room for (an empty name or value).
 */
const DIVERGENT: Array<[string, string, Verdict]> = [
  ['BWS around ";" and "=" (RFC-valid)', CHUNKED + '3 ; a = 1\r\nabc\r\n0\r\n\r\n', 'accept'],
  ['BWS before ";" (RFC-valid)', CHUNKED + '3 ;a=1\r\nabc\r\n0\r\n\r\n', 'accept'],
  ['extension with an empty name', CHUNKED + '3;=v\r\nabc\r\n0\r\n\r\n', 'reject'],
  ['extension with an empty value', CHUNKED + '3;a=\r\nabc\r\n0\r\n\r\n', 'reject'],
  ['empty extension between two', CHUNKED + '3;a;;b\r\nabc\r\n0\r\n\r\n', 'reject'],
]

function echoplexOutcome (bytes: Buffer): Outcome {
  try {
    const requests = httpCodec.decoder(LIMITS).push(bytes)
    if (requests.length !== 1) throw new Error(`expected one request, decoded ${requests.length}`)
    return { verdict: 'accept', status: 200, body: requests[0]!.body.toString('latin1') }
  } catch (err) {
    if (!(err instanceof EchoplexError)) throw err
    const reply = httpCodec.errorReply(err, 'decode')!.toString('latin1')
    return { verdict: 'reject', status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(reply)![1]), body: null }
  }
}

/** Sends `bytes` (then FIN) to node:http, reads until it closes. */
async function nodeOutcome (port: number, bytes: Buffer): Promise<Outcome> {
  const socket = net.connect(port, '127.0.0.1')
  const parts: Buffer[] = []
  socket.on('data', (d: Buffer) => parts.push(d))
  socket.on('error', () => {}) // a reset after a refusal is still a refusal
  await once(socket, 'connect')
  socket.end(bytes)
  const timer = setTimeout(() => socket.destroy(new Error('node:http did not answer and close')), NODE_ANSWER_MS)
  await once(socket, 'close')
  clearTimeout(timer)
  if (socket.errored !== null && socket.errored.message === 'node:http did not answer and close') throw socket.errored
  const text = Buffer.concat(parts).toString('latin1')
  if (text === '') return { verdict: 'reject', status: null, body: null }
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? NaN)
  if (status < 200 || status > 299) return { verdict: 'reject', status, body: null }
  const body = text.slice(text.indexOf('\r\n\r\n') + 4)
  return { verdict: 'accept', status, body: body.slice(body.indexOf(' ') + 1) }
}

t.test('echoplex http codec and node:http accept and refuse the same requests', async (t) => {
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (d: Buffer) => parts.push(d))
    // the reply carries the body as node:http saw it: `METHOD body`
    req.on('end', () => res.end(Buffer.concat([Buffer.from(`${req.method ?? ''} `), ...parts])))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const { port } = server.address() as net.AddressInfo
  const describe = (o: Outcome): string => `${o.verdict} (${o.status === null ? 'closed, no response' : o.status})`

  for (const [name, input, expected] of AGREED) {
    const bytes = Buffer.from(input, 'latin1')
    const [ours, theirs] = [echoplexOutcome(bytes), await nodeOutcome(port, bytes)]
    t.equal(ours.verdict, theirs.verdict, `${name}: echoplex ${describe(ours)}, node:http ${describe(theirs)}`)
    t.equal(ours.verdict, expected, `${name}: ${expected}ed`)
    if (ours.verdict === 'accept' && theirs.verdict === 'accept') t.equal(ours.body, theirs.body, `${name}: same body`)
  }

  for (const [name, input, expected] of DIVERGENT) {
    const bytes = Buffer.from(input, 'latin1')
    const [ours, theirs] = [echoplexOutcome(bytes), await nodeOutcome(port, bytes)]
    t.equal(ours.verdict, expected, `${name}: echoplex ${describe(ours)}`)
    t.comment(`divergent on purpose — ${name}: echoplex ${describe(ours)}, node:http ${describe(theirs)}`)
  }
})
