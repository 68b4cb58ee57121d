import t from 'tap'
import { PayloadFactory, ReplyVerifier, framePayload, SEQ_DIGITS } from '../../src/load/payload.js'

t.test('length requests: 4-byte big-endian header, payload with a sequence number', async (t) => {
  const f = new PayloadFactory('length', 64)
  t.equal(f.wireBytes, 68)
  const a = f.request(1)
  const b = f.request(2)
  t.equal(a.readUInt32BE(0), 64)
  t.equal(a.length, 68)
  t.equal(a.subarray(4, 4 + SEQ_DIGITS).toString('latin1'), '000000000001')
  t.equal(b.subarray(4, 4 + SEQ_DIGITS).toString('latin1'), '000000000002')
  t.notSame(a, b, 'payloads differ per request')
  t.same(a.subarray(4 + SEQ_DIGITS), b.subarray(4 + SEQ_DIGITS), 'the rest is the template')
  t.equal(f.expected(a, 1), a, 'echo expects the request itself')
  t.equal(f.request(0xabc).subarray(4, 4 + SEQ_DIGITS).toString('latin1'), '000000000abc')
})

t.test('line requests are printable ASCII with exactly one trailing newline', async (t) => {
  const f = new PayloadFactory('line', 200)
  const r = f.request(123456789)
  t.equal(r.length, 201)
  t.equal(r[200], 0x0a)
  t.equal(r.indexOf(0x0a), 200)
  t.ok(r.subarray(0, 200).every((c) => c >= 0x20 && c < 0x7f), 'payload bytes are printable ASCII')
  t.equal(f.payload(123456789).length, 200)
})

t.test('upper: the expected reply is the ASCII upper-cased request, framed the same', async (t) => {
  const f = new PayloadFactory('line', 40, 'upper')
  const req = f.request(0xbeef)
  const exp = f.expected(req, 0xbeef)
  t.equal(exp.toString('latin1'), req.toString('latin1').toUpperCase())
  const fl = new PayloadFactory('length', 30, 'upper')
  const lreq = fl.request(7)
  const lexp = fl.expected(lreq, 7)
  t.equal(lexp.readUInt32BE(0), 30)
  t.equal(lexp.subarray(4).toString('latin1'), lreq.subarray(4).toString('latin1').toUpperCase())
})

t.test('a custom expect function gets the payload and its result is framed', async (t) => {
  const f = new PayloadFactory('length', 8, (p) => Buffer.concat([p, Buffer.from('!')]))
  const req = f.request(5)
  const exp = f.expected(req, 5)
  t.equal(exp.readUInt32BE(0), 9)
  t.equal(exp.subarray(4).toString(), req.subarray(4).toString() + '!')
  t.same(framePayload('line', Buffer.from('ab')), Buffer.from('ab\n'))
  t.same(framePayload('raw', Buffer.from('ab')), Buffer.from('ab'))
  t.throws(() => new PayloadFactory('raw', 8, () => '').expected(Buffer.alloc(8), 0), RangeError)
})

t.test('short payloads carry the low digits of the sequence number', async (t) => {
  const f = new PayloadFactory('raw', 3)
  t.equal(f.request(0x12345).toString('latin1'), '345')
  t.throws(() => new PayloadFactory('raw', 0), RangeError)
})

t.test('batch: consecutive requests in one buffer with their expected replies', async (t) => {
  const f = new PayloadFactory('length', 16, 'upper')
  const b = f.batch(10, 3)
  t.equal(b.wire.length, 3 * 20)
  t.equal(b.expected.length, 3)
  for (let i = 0; i < 3; i++) {
    const req = b.wire.subarray(i * 20, (i + 1) * 20)
    t.same(req, f.request(10 + i))
    t.same(b.expected[i], f.expected(f.request(10 + i), 10 + i))
  }
})

t.test('verifier: replies split and merged arbitrarily still verify, in order', async (t) => {
  const f = new PayloadFactory('raw', 50)
  const batch = f.batch(0, 5)
  const stream = Buffer.concat(batch.expected)
  // 1-byte chunks, then everything in one chunk, then odd splits
  for (const split of [1, stream.length, 7, 49, 51]) {
    const v = new ReplyVerifier(5)
    batch.expected.forEach((e, i) => v.push(e, i * 10))
    const starts: number[] = []
    let allMatched = true
    for (let p = 0; p < stream.length; p += split) {
      if (!v.feed(stream.subarray(p, p + split), (s) => starts.push(s))) allMatched = false
    }
    t.ok(allMatched, `split ${split}: every byte matched`)
    t.same(starts, [0, 10, 20, 30, 40], `split ${split}`)
    t.equal(v.outstanding, 0)
  }
})

t.test('verifier: a changed byte, a stale reply or extra bytes are mismatches', async (t) => {
  const f = new PayloadFactory('length', 32)
  const batch = f.batch(100, 2)
  const fresh = (): ReplyVerifier => {
    const v = new ReplyVerifier(2)
    for (const e of batch.expected) v.push(e, 0)
    return v
  }
  const corrupt = Buffer.concat(batch.expected)
  corrupt[40] = corrupt[40]! ^ 0x20
  let done = 0
  t.notOk(fresh().feed(corrupt, () => done++), 'flipped byte')
  t.equal(done, 1, 'the first reply completed before the bad byte')
  // the server repeats reply 100 instead of sending 101
  t.notOk(fresh().feed(Buffer.concat([batch.expected[0]!, batch.expected[0]!]), () => {}), 'stale duplicate')
  const v = fresh()
  t.ok(v.feed(Buffer.concat(batch.expected), () => {}))
  t.notOk(v.feed(Buffer.from('x'), () => {}), 'bytes nobody asked for')
  const w = new ReplyVerifier(1)
  w.push(Buffer.from('a'), 0)
  t.throws(() => w.push(Buffer.from('b'), 0), /capacity/)
  t.equal(w.clear(), 1)
  t.equal(w.outstanding, 0)
})
