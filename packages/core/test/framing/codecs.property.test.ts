/**
 * Property tests: for every codec, any split of an encoded stream decodes to the original messages.
 */
import t from 'tap'
import fc from 'fast-check'
import assert from 'node:assert/strict'
import { isDeepStrictEqual } from 'node:util'
import { rawCodec } from '../../src/framing/raw.js'
import { lineCodec } from '../../src/framing/line.js'
import { lengthCodec, encodeLengthFrame } from '../../src/framing/length.js'
import { httpCodec, type HttpRequest } from '../../src/framing/http.js'
import type { Decoder, FramingLimits } from '../../src/framing/codec.js'

const LIMITS: FramingLimits = { maxMessageBytes: 1 << 20, maxHeaderBytes: 16 * 1024 }
// EPX_FC_RUNS=5000 for a longer soak
const RUNS = Number(process.env['EPX_FC_RUNS'] ?? 150)

// ---------------------------------------------------------------------------------------------------
// splitting a stream

type Split = { kind: 'one' } | { kind: 'bytes' } | { kind: 'cuts', cuts: number[] }

const splitArb: fc.Arbitrary<Split> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Split>({ kind: 'one' }) },
  { weight: 1, arbitrary: fc.constant<Split>({ kind: 'bytes' }) },
  { weight: 4, arbitrary: fc.array(fc.nat(), { maxLength: 40 }).map((cuts): Split => ({ kind: 'cuts', cuts })) },
)

/** Chunks (each an independent copy, as a socket would deliver them) of `stream` cut as `split` says. */
function chunksOf (stream: Buffer, split: Split): Buffer[] {
  if (split.kind === 'one') return [Buffer.from(stream)]
  if (split.kind === 'bytes') return Array.from(stream, (b) => Buffer.from([b]))
  const at = [...new Set(split.cuts.map((c) => (stream.length === 0 ? 0 : c % (stream.length + 1))))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let prev = 0
  for (const cut of [...at, stream.length]) {
    // an occasional empty chunk must be harmless too
    out.push(Buffer.from(stream.subarray(prev, cut)))
    prev = cut
  }
  return out
}

function decodeAll<M> (decoder: Decoder<M>, chunks: Buffer[]): M[] {
  const out: M[] = []
  for (const chunk of chunks) out.push(...decoder.push(chunk))
  return out
}

// ---------------------------------------------------------------------------------------------------

t.test('raw: the decoded chunks concatenate to the stream', async (t) => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), splitArb, (messages, split) => {
    const stream = Buffer.concat(messages)
    const decoder = rawCodec.decoder(LIMITS)
    const out = decodeAll(decoder, chunksOf(stream, split))
    assert.ok(out.every((m) => m.length > 0), 'no empty messages')
    assert.deepEqual(Buffer.concat(out), stream)
    assert.equal(decoder.buffered, 0)
  }), { numRuns: RUNS })
  t.pass('property held')
})

// lines: any text without `\n`, not ending in `\r` (that `\r` would be taken for part of `\r\n`)
const lineText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', '\r', ' ', '\t', 'ß'), maxLength: 20 }),
).map((s) => s.replaceAll('\n', ' ')).filter((s) => !s.endsWith('\r'))

t.test('line: any split yields the lines, without terminators, \\r\\n or \\n', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.tuple(lineText, fc.constantFrom('\n', '\r\n')), { maxLength: 25 }),
    fc.string({ unit: fc.constantFrom('x', 'ü', '\r'), maxLength: 10 }),
    splitArb,
    (lines, tail, split) => {
      const tailBytes = Buffer.from(tail, 'utf8')
      const stream = Buffer.concat([...lines.map(([text, end]) => Buffer.from(text + end, 'utf8')), tailBytes])
      const decoder = lineCodec.decoder(LIMITS)
      const out = decodeAll(decoder, chunksOf(stream, split))
      assert.deepEqual(out.map((b) => b.toString('utf8')), lines.map(([text]) => text))
      // the unterminated tail is held, nothing else
      assert.equal(decoder.buffered, tailBytes.length)
    }), { numRuns: RUNS })
  t.pass('property held')
})

t.test('length: any split yields the payloads', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
    fc.uint8Array({ minLength: 1, maxLength: 100 }),
    fc.nat(),
    splitArb,
    (payloads, last, cut, split) => {
      // a trailing incomplete frame: header and part of `last`
      const lastFrame = encodeLengthFrame(Buffer.from(last))
      const partial = lastFrame.subarray(0, cut % lastFrame.length)
      const stream = Buffer.concat([...payloads.map((p) => lengthCodec.encode(p, Buffer.alloc(0)).bytes!), partial])
      const decoder = lengthCodec.decoder(LIMITS)
      const out = decodeAll(decoder, chunksOf(stream, split))
      assert.deepEqual(out.map((b) => Buffer.from(b)), payloads.map((p) => Buffer.from(p)))
      assert.equal(decoder.buffered, partial.length)
    }), { numRuns: RUNS })
  t.pass('property held')
})

// ---------------------------------------------------------------------------------------------------
// http

interface GenRequest {
  method: string
  url: string
  version: 'HTTP/1.1' | 'HTTP/1.0'
  headers: Array<[string, string, string, string]> // name, value, OWS before, OWS after
  body: Uint8Array | null
  framing: 'length' | 'chunked' | 'none'
  /** Host header value; always sent for HTTP/1.1 (required there), optional for HTTP/1.0. */
  host: string | null
  chunkCuts: number[]
  /** Chunk extensions after each chunk size ('' for none); valid by RFC 9112 §7.1.1, ignored. */
  ext: string
  trailers: boolean
  /** An empty line before the request line (tolerated, with CRLF or a bare LF, as node:http does). */
  leadingEmpty: '' | '\r\n' | '\n'
}

const RESERVED = new Set(['content-length', 'transfer-encoding', 'connection'])
const headerName = fc.oneof(
  fc.constantFrom('Host', 'host', 'Accept', 'X-Dup', 'x-dup', 'X-DUP', 'Cookie', 'constructor', '__proto__', 'toString'),
  fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}$/),
).filter((n) => !RESERVED.has(n.toLowerCase()))
const headerValue = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e\t]{0,30}[\x21-\x7e])?$/),
)
const ows = fc.constantFrom('', ' ', '\t', '  ')

const requestArb: fc.Arbitrary<GenRequest> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'),
  url: fc.stringMatching(/^\/[A-Za-z0-9._~%?=&/-]{0,30}$/),
  version: fc.constantFrom('HTTP/1.1' as const, 'HTTP/1.0' as const),
  headers: fc.array(fc.tuple(headerName, headerValue, ows, ows), { maxLength: 6 }),
  body: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }),
  framing: fc.constantFrom('length' as const, 'chunked' as const, 'none' as const),
  host: fc.option(fc.constantFrom('', 'example.com', '127.0.0.1:8080', '[::1]'), { nil: null }),
  chunkCuts: fc.array(fc.nat(), { maxLength: 5 }),
  ext: fc.constantFrom('', ';name=value;flag', ';a', ' ; a = b', ';q="x;y=\\"z\\" \xe9"', '\t;a=1;b;c="";d'),
  trailers: fc.boolean(),
  leadingEmpty: fc.constantFrom('' as const, '\r\n' as const, '\n' as const),
// HTTP/1.0 with Transfer-Encoding is served and then closes (RFC 9112 §6.1; see http.test.ts): not here
}).map((r) => (r.version === 'HTTP/1.0' && r.framing === 'chunked' ? { ...r, framing: 'length' as const } : r))
  .map((r) => (r.version === 'HTTP/1.1' && r.host === null ? { ...r, host: 'h' } : r))

function encodeRequest (r: GenRequest, keepAlive: boolean): Buffer {
  return encodeWith(r, keepAlive, -1).bytes
}

/**
 * The request's bytes; the `bareAt`-th line ending that frames something (every one but a leading
 * empty line's) is a bare `\n` instead of `\r\n`. `eols`: how many such line endings there are.
 */
function encodeWith (r: GenRequest, keepAlive: boolean, bareAt: number): { bytes: Buffer, eols: number } {
  let eols = 0
  const eol = (): string => (eols++ === bareAt ? '\n' : '\r\n')
  let head = r.leadingEmpty + `${r.method} ${r.url} ${r.version}${eol()}`
  if (r.host !== null) head += `Host: ${r.host}${eol()}`
  for (const [name, value, before, after] of r.headers) head += `${name}:${before}${value}${after}${eol()}`
  // keep the stream open across requests unless this is meant to be the last
  if (r.version === 'HTTP/1.0' && keepAlive) head += `Connection: keep-alive${eol()}`
  if (!keepAlive) head += `Connection: close${eol()}`
  const body = r.body ?? new Uint8Array(0)
  if (r.framing === 'length' || (r.framing === 'none' && body.length > 0)) {
    const framed = `${head}Content-Length: ${body.length}${eol()}`
    return { bytes: Buffer.concat([Buffer.from(framed + eol(), 'latin1'), body]), eols }
  }
  if (r.framing === 'none') return { bytes: Buffer.from(head + eol(), 'latin1'), eols }
  // chunked
  const framed = `${head}Transfer-Encoding: chunked${eol()}`
  const parts: Buffer[] = [Buffer.from(framed + eol(), 'latin1')]
  const cuts = [...new Set(r.chunkCuts.map((c) => c % (body.length + 1)))].filter((c) => c > 0).sort((a, b) => a - b)
  let prev = 0
  for (const cut of [...cuts, body.length]) {
    if (cut === prev) continue
    const sizeLine = `${(cut - prev).toString(16)}${r.ext}${eol()}`
    parts.push(Buffer.from(sizeLine, 'latin1'), Buffer.from(body.subarray(prev, cut)), Buffer.from(eol()))
    prev = cut
  }
  const last = `0${r.ext}${eol()}${r.trailers ? `X-Trailer: t${eol()}` : ''}`
  parts.push(Buffer.from(last + eol(), 'latin1'))
  return { bytes: Buffer.concat(parts), eols }
}

function expectedOf (r: GenRequest, keepAlive: boolean): object {
  const headers: Record<string, string> = Object.create(null)
  if (r.host !== null) headers['host'] = r.host
  for (const [name, value] of r.headers) {
    const key = name.toLowerCase()
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value
  }
  if (r.version === 'HTTP/1.0' && keepAlive) headers['connection'] = 'keep-alive'
  if (!keepAlive) headers['connection'] = 'close'
  const body = r.body ?? new Uint8Array(0)
  if (r.framing === 'length' || (r.framing === 'none' && body.length > 0)) headers['content-length'] = String(body.length)
  if (r.framing === 'chunked') headers['transfer-encoding'] = 'chunked'
  return { method: r.method, url: r.url, version: r.version, headers: Object.entries(headers), body: Buffer.from(body), keepAlive }
}

function comparable (req: HttpRequest): object {
  return { ...req, headers: Object.entries(req.headers), body: Buffer.from(req.body) }
}

t.test('http: pipelined requests decode in order from any split', async (t) => {
  fc.assert(fc.property(
    fc.array(requestArb, { minLength: 1, maxLength: 8 }),
    fc.boolean(),
    splitArb,
    (requests, closeLast, split) => {
      const keep = requests.map((_, i) => !(closeLast && i === requests.length - 1))
      const stream = Buffer.concat(requests.map((r, i) => encodeRequest(r, keep[i]!)))
      const decoder = httpCodec.decoder(LIMITS)
      const out = decodeAll(decoder, chunksOf(stream, split))
      assert.deepStrictEqual(out.map(comparable), requests.map((r, i) => expectedOf(r, keep[i]!)))
      assert.equal(decoder.buffered, 0)
    }), { numRuns: RUNS })
  t.pass('property held')
})

t.test('http: an incomplete trailing request is held, not emitted', async (t) => {
  fc.assert(fc.property(
    fc.array(requestArb, { minLength: 1, maxLength: 4 }),
    requestArb,
    fc.nat(),
    splitArb,
    (requests, last, cut, split) => {
      const lastBytes = encodeRequest(last, true)
      // cut inside the last request, never through a part that could be a complete request on its own
      const keepBytes = 1 + (cut % (lastBytes.length - 1))
      const partial = lastBytes.subarray(0, keepBytes)
      const stream = Buffer.concat([...requests.map((r) => encodeRequest(r, true)), partial])
      const decoder = httpCodec.decoder(LIMITS)
      const out = decodeAll(decoder, chunksOf(stream, split))
      assert.equal(out.length, requests.length)
      // a leading empty line is not part of a request; anything after it is held
      const ignorable = last.leadingEmpty.length
      if (keepBytes > ignorable) assert.ok(decoder.buffered > 0, 'a partial request is buffered')
      assert.ok(decoder.buffered <= partial.length)
      // the rest of it completes it
      const more = decoder.push(Buffer.from(lastBytes.subarray(keepBytes)))
      assert.deepStrictEqual(more.map(comparable), [expectedOf(last, true)])
      assert.equal(decoder.buffered, 0)
    }), { numRuns: RUNS })
  t.pass('property held')
})

const HTTP_ERRORS = new Set(['EPX_HTTP_BAD_REQUEST', 'EPX_HTTP_BODY_TOO_LARGE', 'EPX_HTTP_HEADERS_TOO_LARGE', 'EPX_HTTP_UNSUPPORTED'])

/** Requests decoded, or the code of the error thrown (never anything but an HTTP EchoplexError). */
function outcome (chunks: Buffer[], limits: FramingLimits): { requests: object[], error: string | null } {
  const decoder = httpCodec.decoder(limits)
  const requests: object[] = []
  try {
    for (const chunk of chunks) requests.push(...decoder.push(chunk).map(comparable))
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code !== 'string' || !HTTP_ERRORS.has(code)) throw err
    return { requests, error: code }
  }
  return { requests, error: null }
}

t.test('http: corrupted streams decode the same way for any split, and fail only with HTTP errors', async (t) => {
  const noise = fc.constantFrom('\r', '\n', ' ', '\t', ':', ';', ',', '0', 'f', 'a', '\x00', '\x7f', '\xff', 'HTTP/1.1', 'chunked', 'Content-Length: 9\r\n', 'Transfer-Encoding: chunked\r\n')
  const edit = fc.record({ at: fc.nat(), del: fc.nat({ max: 3 }), insert: noise })
  const small: FramingLimits = { maxMessageBytes: 150, maxHeaderBytes: 200 }
  fc.assert(fc.property(
    fc.array(requestArb, { minLength: 1, maxLength: 4 }),
    fc.array(edit, { minLength: 1, maxLength: 4 }),
    fc.constantFrom(LIMITS, small),
    splitArb,
    (requests, edits, limits, split) => {
      let stream = Buffer.concat(requests.map((r) => encodeRequest(r, true)))
      for (const { at, del, insert } of edits) {
        const i = at % (stream.length + 1)
        stream = Buffer.concat([stream.subarray(0, i), Buffer.from(insert, 'latin1'), stream.subarray(i + del)])
      }
      const whole = outcome([stream], limits)
      const pieces = outcome(chunksOf(stream, split), limits)
      assert.equal(pieces.error, whole.error)
      // when a push throws, what it had decoded is lost, so only compare complete runs
      if (whole.error === null) assert.deepStrictEqual(pieces.requests, whole.requests)
    }), { numRuns: RUNS * 2 })
  t.pass('property held')
})

t.test('http: a bare LF for any framing CRLF is refused, from any split', async (t) => {
  fc.assert(fc.property(
    fc.array(requestArb, { minLength: 1, maxLength: 4 }),
    fc.nat(),
    fc.nat(),
    splitArb,
    (requests, which, where, split) => {
      const broken = which % requests.length
      const { eols } = encodeWith(requests[broken]!, true, -1)
      const bareAt = where % eols
      const stream = Buffer.concat(requests.map((r, i) => encodeWith(r, true, i === broken ? bareAt : -1).bytes))
      const whole = outcome([stream], LIMITS)
      const pieces = outcome(chunksOf(stream, split), LIMITS)
      assert.equal(whole.error, 'EPX_HTTP_BAD_REQUEST')
      assert.equal(pieces.error, 'EPX_HTTP_BAD_REQUEST')
      // the requests before the broken one were complete; any that came out are the right ones
      const expected = requests.slice(0, broken).map((r) => expectedOf(r, true))
      assert.ok(pieces.requests.length <= broken)
      assert.deepStrictEqual(pieces.requests, expected.slice(0, pieces.requests.length))
    }), { numRuns: RUNS })
  t.pass('property held')
})

/** Requests refused by RFC 9112 (and node:http), each with the error it must get. */
const REFUSED: Array<[string, string]> = [
  ['GET / HTTP/1.1\r\nX: y\r\n\r\n', 'EPX_HTTP_BAD_REQUEST'],
  ['GET / HTTP/1.1\nHost: x\n\n', 'EPX_HTTP_BAD_REQUEST'],
  ['GET / HTTP/1.1\r\nHost: x\r\n\n', 'EPX_HTTP_BAD_REQUEST'],
  ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n', 'EPX_HTTP_BAD_REQUEST'],
  ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n', 'EPX_HTTP_BAD_REQUEST'],
  ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\n\r\n', 'EPX_HTTP_BAD_REQUEST'],
  ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\n', 'EPX_HTTP_BAD_REQUEST'],
  ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n', 'EPX_HTTP_BAD_REQUEST'],
  ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=1;\r\nabc\r\n0\r\n\r\n', 'EPX_HTTP_BAD_REQUEST'],
  ['GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n', 'EPX_HTTP_BAD_REQUEST'],
  ['GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n', 'EPX_HTTP_BAD_REQUEST'],
  ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 'EPX_HTTP_BAD_REQUEST'],
  ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'EPX_HTTP_UNSUPPORTED'],
]

t.test('http: each RFC 9112 refusal, after a good request, is the same for a cut at every byte', async (t) => {
  const good = 'POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhello'
  for (const [input, code] of REFUSED) {
    const stream = Buffer.from(good + input, 'latin1')
    const firstOnly = outcome([Buffer.from(good, 'latin1')], LIMITS)
    assert.equal(firstOnly.requests.length, 1)
    t.equal(outcome([stream], LIMITS).error, code, JSON.stringify(input))
    t.equal(outcome(chunksOf(stream, { kind: 'bytes' }), LIMITS).error, code, `${JSON.stringify(input)} byte by byte`)
    for (let cut = 0; cut <= stream.length; cut++) {
      const split = outcome([stream.subarray(0, cut), stream.subarray(cut)], LIMITS)
      // the good request comes out of the first push when that push holds it and throws nothing:
      // always for a cut right after it, never for a cut inside it, either way beyond it
      const came = isDeepStrictEqual(split.requests, firstOnly.requests)
      const right = cut < good.length ? split.requests.length === 0 : cut === good.length ? came : came || split.requests.length === 0
      if (split.error !== code || !right) {
        t.fail(`${JSON.stringify(input)} cut at ${cut}: ${String(split.error)}, ${split.requests.length} request(s)`)
      }
    }
  }
  t.pass('every cut gave the same outcome')
})
