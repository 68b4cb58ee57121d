/**
 * Property tests: a PROXY header decodes the same whatever way the stream is split (every byte on its
 * own included), the bytes after it come back intact, and the decoder never holds more than the bound.
 */
import t from 'tap'
import fc from 'fast-check'
import assert from 'node:assert/strict'
import { isIPv6 } from 'node:net'
import { ProxyHeaderDecoder, PROXY_V1_MAX_BYTES, type ProxyHeader } from '../../src/proxy/header.js'
import { ipBytes, tlv, v1, v2, V2_SIGNATURE } from './fixtures/encode.js'

// EPX_FC_RUNS=5000 for a longer soak
const RUNS = Number(process.env['EPX_FC_RUNS'] ?? 200)
const MAX = 1024

type Split = { kind: 'one' } | { kind: 'bytes' } | { kind: 'cuts', cuts: number[] }
const splitArb: fc.Arbitrary<Split> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Split>({ kind: 'one' }) },
  { weight: 1, arbitrary: fc.constant<Split>({ kind: 'bytes' }) },
  { weight: 4, arbitrary: fc.array(fc.nat(), { maxLength: 30 }).map((cuts): Split => ({ kind: 'cuts', cuts })) },
)

function chunksOf (stream: Buffer, split: Split): Buffer[] {
  if (split.kind === 'one') return [Buffer.from(stream)]
  if (split.kind === 'bytes') return Array.from(stream, (b) => Buffer.from([b]))
  const at = [...new Set(split.cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let prev = 0
  for (const cut of [...at, stream.length]) { out.push(Buffer.from(stream.subarray(prev, cut))); prev = cut }
  return out
}

type Outcome = { kind: 'header', header: ProxyHeader, rest: Buffer } | { kind: 'error', code: string, message: string } | { kind: 'incomplete' }

/** Feeds the chunks as a socket would; checks the bound on every step. */
function decode (chunks: Buffer[], maxBytes = MAX): Outcome {
  const decoder = new ProxyHeaderDecoder(maxBytes)
  for (let i = 0; i < chunks.length; i++) {
    let result
    try {
      result = decoder.push(chunks[i]!)
    } catch (err) {
      const e = err as { code: string, message: string }
      return { kind: 'error', code: e.code, message: e.message }
    }
    assert.ok(decoder.buffered <= Math.max(PROXY_V1_MAX_BYTES, maxBytes), `held ${decoder.buffered} bytes`)
    if (result !== undefined) return { kind: 'header', header: result.header, rest: Buffer.concat([result.rest, ...chunks.slice(i + 1)]) }
  }
  return { kind: 'incomplete' }
}

const port = fc.integer({ min: 0, max: 65535 })
const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b))
const ipv4 = fc.ipV4()
const ipv6Text = bytes16.map((b) => {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16))
  return groups.join(':')
})
const tlvs = fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 })), { maxLength: 4 })
  .map((list) => Buffer.concat(list.map(([type, value]) => tlv(type, Buffer.from(value)))))
const unixPath = fc.stringMatching(/^\/[a-z0-9/._-]{0,100}$/)

interface Case { wire: Buffer, check: (h: ProxyHeader) => void }

const validHeader: fc.Arbitrary<Case> = fc.oneof(
  fc.tuple(ipv4, ipv4, port, port).map(([src, dst, sp, dp]): Case => ({
    wire: v1('TCP4', src, dst, sp, dp),
    check: (h) => assert.deepEqual(h, { version: 1, command: 'proxy', family: 'tcp4', source: { address: src, port: sp }, destination: { address: dst, port: dp }, length: h.length }),
  })),
  fc.tuple(ipv6Text, ipv6Text, port, port).map(([src, dst, sp, dp]): Case => ({
    wire: v1('TCP6', src, dst, sp, dp),
    check: (h) => assert.deepEqual(h, { version: 1, command: 'proxy', family: 'tcp6', source: { address: src, port: sp }, destination: { address: dst, port: dp }, length: h.length }),
  })),
  fc.stringMatching(/^( [ -~]{0,80})?$/).map((tail): Case => ({
    wire: Buffer.from(`PROXY UNKNOWN${tail}\r\n`, 'latin1'),
    check: (h) => assert.deepEqual(h, { version: 1, command: 'local', family: 'unspec', length: h.length }),
  })),
  fc.tuple(ipv4, ipv4, port, port, tlvs).map(([src, dst, sp, dp, extra]): Case => ({
    wire: v2({ command: 1, family: 1, src, dst, sport: sp, dport: dp, tlvs: extra }),
    check: (h) => assert.deepEqual(h, { version: 2, command: 'proxy', family: 'tcp4', source: { address: src, port: sp }, destination: { address: dst, port: dp }, length: h.length }),
  })),
  fc.tuple(bytes16, bytes16, port, port, tlvs).map(([src, dst, sp, dp, extra]): Case => ({
    wire: v2({ command: 1, family: 2, src: ipv6TextOf(src), dst: ipv6TextOf(dst), sport: sp, dport: dp, tlvs: extra }),
    check: (h) => {
      assert.equal(h.family, 'tcp6')
      assert.equal(h.command, 'proxy')
      // canonical text that parses back to the very bytes sent
      assert.ok(isIPv6(h.source!.address) && isIPv6(h.destination!.address))
      assert.deepEqual(ipBytes(h.source!.address), src)
      assert.deepEqual(ipBytes(h.destination!.address), dst)
      assert.equal(h.source!.address, h.source!.address.toLowerCase())
      assert.deepEqual([h.source!.port, h.destination!.port], [sp, dp])
    },
  })),
  fc.tuple(unixPath, unixPath, tlvs).map(([src, dst, extra]): Case => ({
    wire: v2({ command: 1, family: 3, src, dst, tlvs: extra }),
    check: (h) => assert.deepEqual(h, { version: 2, command: 'proxy', family: 'unix', source: { address: src }, destination: { address: dst }, length: h.length }),
  })),
  fc.tuple(fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3), tlvs).map(([family, extra]): Case => ({
    // LOCAL (a health check): addresses, if any, are not the client's
    wire: v2({ command: 0, family, src: family === 2 ? '::1' : family === 3 ? '/s' : '127.0.0.1', dst: family === 2 ? '::1' : '127.0.0.1', tlvs: extra }),
    check: (h) => { assert.equal(h.command, 'local'); assert.equal(h.source, undefined) },
  })),
  tlvs.map((extra): Case => ({
    wire: v2({ command: 1, family: 0, tlvs: extra }),
    check: (h) => assert.deepEqual(h, { version: 2, command: 'local', family: 'unspec', length: h.length }),
  })),
)

function ipv6TextOf (b: Buffer): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16))
  return groups.join(':')
}

t.test('a valid header decodes the same for any split, and the bytes after it come back intact', async (t) => {
  fc.assert(fc.property(validHeader, fc.uint8Array({ maxLength: 200 }), splitArb, (c, payload, split) => {
    const stream = Buffer.concat([c.wire, payload])
    const out = decode(chunksOf(stream, split))
    assert.equal(out.kind, 'header')
    if (out.kind !== 'header') return
    c.check(out.header)
    assert.equal(out.header.length, c.wire.length)
    assert.deepEqual(out.rest, Buffer.from(payload))
  }), { numRuns: RUNS })
  t.pass('property held')
})

t.test('every strict prefix of a valid header asks for more, never fails', async (t) => {
  fc.assert(fc.property(validHeader, fc.nat(), (c, cut) => {
    const prefix = c.wire.subarray(0, cut % c.wire.length)
    assert.deepEqual(decode([Buffer.from(prefix)]), { kind: 'incomplete' })
    assert.deepEqual(decode(Array.from(prefix, (b) => Buffer.from([b]))), { kind: 'incomplete' })
  }), { numRuns: RUNS })
  t.pass('property held')
})

// any bytes at all: valid headers with a byte changed, random bytes behind either signature, noise
const anyStream: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(validHeader, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 30 })).map(([c, at, value, tail]) => {
    const wire = Buffer.from(c.wire)
    wire[at % wire.length] = value
    return Buffer.concat([wire, tail])
  }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from('PROXY ', 'latin1'), b])),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([V2_SIGNATURE, b])),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
)

t.test('any byte stream: the outcome (header, error, or more needed) does not depend on the split', async (t) => {
  fc.assert(fc.property(anyStream, splitArb, (stream, split) => {
    const whole = decode([Buffer.from(stream)])
    const pieces = decode(chunksOf(stream, split))
    assert.deepEqual(pieces, whole)
    if (whole.kind === 'error') assert.equal(whole.code, 'EPX_PROXY_HEADER')
  }), { numRuns: RUNS * 3 })
  t.pass('property held')
})

t.test('limits: a v1 line without CRLF fails at 107 bytes, a v2 header over the limit fails on its length field', async (t) => {
  const line = Buffer.concat([Buffer.from('PROXY TCP4 '), Buffer.alloc(200, 0x31)])
  const out = decode(Array.from(line, (b) => Buffer.from([b])))
  t.equal(out.kind, 'error')
  // the spec's bound exactly: 107 bytes with CRLF pass, 108 fail, in one piece or byte by byte
  const unknown = (size: number): Buffer => Buffer.from(`PROXY UNKNOWN ${'x'.repeat(size - 16)}\r\n`)
  t.equal(unknown(107).length, 107)
  for (const chunks of [[unknown(107)], Array.from(unknown(107), (b) => Buffer.from([b]))]) t.equal(decode(chunks).kind, 'header')
  for (const chunks of [[unknown(108)], Array.from(unknown(108), (b) => Buffer.from([b]))]) t.match(decode(chunks), { kind: 'error', message: /within 107 bytes/ })
  // 16 bytes claiming a 2000-byte body: refused before any of the body arrives
  const big = v2({ command: 1, family: 1, src: '1.2.3.4', dst: '5.6.7.8', tlvs: tlv(1, Buffer.alloc(2000)) })
  t.match(decode([big.subarray(0, 16)], 1024), { kind: 'error', message: /2031 bytes exceeds the limit of 1024/ })
  t.equal(decode([big], 4096).kind, 'header')
})

t.test('rejections name what is wrong', async (t) => {
  const cases: [string, Buffer | string, RegExp][] = [
    ['plain data', 'GET / HTTP/1.1\r\n', /does not start with one/],
    ['v1 with a bad protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', /not TCP4, TCP6 or UNKNOWN/],
    ['v1 with a v6 address under TCP4', 'PROXY TCP4 ::1 ::1 1 2\r\n', /not IPv4/],
    ['v1 with a port over 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', /port "65536"/],
    ['v1 with a leading-zero port', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', /port "01"/],
    ['v1 with a field missing', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /not "PROXY TCPx/],
    ['v1 with a bare LF', 'PROXY TCP4 1.2.3.4\n', /bare LF/],
    ['v2 version 1', Buffer.concat([V2_SIGNATURE, Buffer.from([0x11, 0x11, 0, 12])]), /version nibble is 1/],
    ['v2 command 2', Buffer.concat([V2_SIGNATURE, Buffer.from([0x22])]), /command 2/],
    ['v2 family 4', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x41])]), /family 4/],
    ['v2 INET with 4 address bytes', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 4, 1, 2, 3, 4])]), /too short/],
  ]
  for (const [what, input, message] of cases) {
    t.match(decode([Buffer.from(input)]), { kind: 'error', code: 'EPX_PROXY_HEADER', message }, what)
  }
})
