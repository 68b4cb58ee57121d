import t from 'tap'
import { lineCodec } from '../../src/framing/line.js'
import { EchoplexError } from '../../src/errors.js'

const limits = (max: number) => ({ maxMessageBytes: max, maxHeaderBytes: 1024 })
const strs = (bufs: Buffer[]) => bufs.map((b) => b.toString('utf8'))

t.test('splits on \\n, drops a preceding \\r, keeps empty lines', async (t) => {
  const d = lineCodec.decoder(limits(100))
  t.same(strs(d.push(Buffer.from('one\r\ntwo\n\n\r\nthr'))), ['one', 'two', '', ''])
  t.equal(d.buffered, 3)
  t.same(strs(d.push(Buffer.from('ee\r'))), [])
  t.equal(d.buffered, 6)
  t.same(strs(d.push(Buffer.from('\nfour'))), ['three'])
  t.equal(d.buffered, 4)
  t.same(strs(d.push(Buffer.from('\n'))), ['four'])
  t.equal(d.buffered, 0)
  // only a trailing \r is a terminator's; one inside the line stays
  t.same(strs(d.push(Buffer.from('a\rb\n'))), ['a\rb'])
})

t.test('multi-byte UTF-8 split inside a character', async (t) => {
  const bytes = Buffer.from('héllo €😀\n', 'utf8')
  const d = lineCodec.decoder(limits(100))
  const out: Buffer[] = []
  for (const b of bytes) out.push(...d.push(Buffer.from([b])))
  t.same(strs(out), ['héllo €😀'])
  t.equal(d.buffered, 0)
})

t.test('a line of exactly the limit passes, with \\n or \\r\\n, in 1-byte chunks', async (t) => {
  for (const end of ['\n', '\r\n']) {
    const d = lineCodec.decoder(limits(10))
    const out: Buffer[] = []
    for (const b of Buffer.from('x'.repeat(10) + end)) out.push(...d.push(Buffer.from([b])))
    t.same(strs(out), ['x'.repeat(10)], JSON.stringify(end))
  }
})

t.test('a line over the limit throws EPX_LINE_TOO_LONG', async (t) => {
  for (const end of ['\n', '\r\n']) {
    const d = lineCodec.decoder(limits(10))
    t.throws(() => d.push(Buffer.from('x'.repeat(11) + end)), { code: 'EPX_LINE_TOO_LONG' })
  }
  // the long line is after good ones in the same chunk
  const d = lineCodec.decoder(limits(10))
  t.throws(() => d.push(Buffer.from('ok\n' + 'y'.repeat(20) + '\n')), { code: 'EPX_LINE_TOO_LONG' })
})

t.test('an endless line without \\n throws once past the limit, buffering no more than that', async (t) => {
  const max = 1000
  const d = lineCodec.decoder(limits(max))
  let pushed = 0
  let error: unknown
  try {
    for (; pushed < 10 * max; pushed += 7) {
      d.push(Buffer.from('abcdefg'))
      t.ok(d.buffered <= max + 1, 'never holds more than the limit (+ a possible \\r)')
    }
  } catch (err) {
    error = err
  }
  t.ok(error instanceof EchoplexError)
  t.equal((error as EchoplexError).code, 'EPX_LINE_TOO_LONG')
  t.ok(pushed <= max + 2, `threw after ${pushed} bytes`)
})

t.test('an endless line in 1-byte chunks throws too', async (t) => {
  const d = lineCodec.decoder(limits(50))
  let n = 0
  t.throws(() => { for (; n < 1000; n++) d.push(Buffer.from('z')) }, { code: 'EPX_LINE_TOO_LONG' })
  t.equal(n, 51, 'the 52nd byte (more than max + \\r) is the one refused')
})

t.test('lines split over many chunks are joined', async (t) => {
  const d = lineCodec.decoder(limits(100))
  t.same(strs(d.push(Buffer.from('ab'))), [])
  t.same(strs(d.push(Buffer.from('cd'))), [])
  t.equal(d.buffered, 4)
  t.same(strs(d.push(Buffer.from('e\nfg\nh'))), ['abcde', 'fg'])
  t.equal(d.buffered, 1)
})

t.test('a held partial line does not alias the caller\'s chunk', async (t) => {
  const d = lineCodec.decoder(limits(100))
  const chunk = Buffer.from('abc')
  d.push(chunk)
  chunk.fill(0x21)
  t.same(strs(d.push(Buffer.from('\n'))), ['abc'])
})

t.test('encode writes replies as they are; no error reply', async (t) => {
  t.same(lineCodec.encode('hi\n', Buffer.alloc(0)), { bytes: Buffer.from('hi\n'), close: false })
  t.same(lineCodec.encode(undefined, Buffer.alloc(0)), { bytes: null, close: false })
  t.equal(lineCodec.errorReply(undefined, 'decode'), null)
})
