import t from 'tap'
import { lengthCodec, encodeLengthFrame } from '../../src/framing/length.js'

const limits = (max: number) => ({ maxMessageBytes: max, maxHeaderBytes: 1024 })
const header = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n, 0); return b }

/** Runs `fn` while recording the largest buffer allocated and the bytes copied by Buffer.concat. */
function watchAllocations (fn: () => void): { largest: number, concatenated: number } {
  const stats = { largest: 0, concatenated: 0 }
  const { alloc, allocUnsafe, allocUnsafeSlow, concat } = Buffer
  const note = (size: number) => { stats.largest = Math.max(stats.largest, size) }
  Buffer.alloc = ((size: number, ...rest: any[]) => { note(size); return (alloc as any)(size, ...rest) }) as typeof Buffer.alloc
  Buffer.allocUnsafe = ((size: number) => { note(size); return allocUnsafe(size) }) as typeof Buffer.allocUnsafe
  Buffer.allocUnsafeSlow = ((size: number) => { note(size); return allocUnsafeSlow(size) }) as typeof Buffer.allocUnsafeSlow
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const out = concat(list, total)
    note(out.length)
    stats.concatenated += out.length
    return out
  }) as typeof Buffer.concat
  try {
    fn()
  } finally {
    Object.assign(Buffer, { alloc, allocUnsafe, allocUnsafeSlow, concat })
  }
  return stats
}

t.test('frames: many in one chunk, zero-length ones, split ones', async (t) => {
  const d = lengthCodec.decoder(limits(100))
  const stream = Buffer.concat([encodeLengthFrame(Buffer.from('abc')), encodeLengthFrame(Buffer.alloc(0)), encodeLengthFrame(Buffer.from('hello'))])
  t.same(d.push(stream.subarray(0, 13)).map(String), ['abc', ''])
  t.equal(d.buffered, 2, 'half a header held')
  t.same(d.push(stream.subarray(13, 18)).map(String), [])
  t.equal(d.buffered, 7, 'header and 3 payload bytes held')
  t.same(d.push(stream.subarray(18)).map(String), ['hello'])
  t.equal(d.buffered, 0)
})

t.test('a header claiming 2 GiB throws EPX_FRAME_TOO_LARGE on the header alone, allocating nothing big', async (t) => {
  for (const split of [[4], [2, 2], [1, 1, 1, 1]]) {
    const d = lengthCodec.decoder(limits(1024 * 1024))
    const bytes = header(0x80000000)
    let error: any
    const stats = watchAllocations(() => {
      let at = 0
      try {
        for (const n of split) { d.push(bytes.subarray(at, at + n)); at += n }
      } catch (err) { error = err }
    })
    t.equal(error?.code, 'EPX_FRAME_TOO_LARGE', `split ${split.join('+')}`)
    t.match(error?.message, /2147483648/)
    t.ok(stats.largest < 1024, `largest allocation ${stats.largest} bytes`)
  }
  // even when it follows good frames in the same chunk
  const d = lengthCodec.decoder(limits(10))
  t.throws(() => d.push(Buffer.concat([encodeLengthFrame(Buffer.from('ok')), header(0xffffffff)])), { code: 'EPX_FRAME_TOO_LARGE' })
})

t.test('a frame of exactly the limit passes; one byte more does not', async (t) => {
  const d = lengthCodec.decoder(limits(8))
  t.same(d.push(encodeLengthFrame(Buffer.from('12345678'))).map(String), ['12345678'])
  t.throws(() => d.push(header(9)), { code: 'EPX_FRAME_TOO_LARGE' })
})

t.test('a big frame trickling in 1-byte chunks is joined once, not on every chunk', async (t) => {
  const size = 64 * 1024
  const frame = encodeLengthFrame(Buffer.alloc(size, 7))
  const d = lengthCodec.decoder(limits(1024 * 1024))
  const out: Buffer[] = []
  const stats = watchAllocations(() => {
    for (let i = 0; i < frame.length; i++) out.push(...d.push(frame.subarray(i, i + 1)))
  })
  t.equal(out.length, 1)
  t.equal(out[0]!.length, size)
  t.ok(out[0]!.every((b) => b === 7))
  t.equal(d.buffered, 0)
  t.ok(stats.concatenated < 4 * frame.length, `copied ${stats.concatenated} bytes for a ${frame.length}-byte frame`)
})

t.test('buffered counts the held partial frame', async (t) => {
  const d = lengthCodec.decoder(limits(100))
  t.equal(d.buffered, 0)
  d.push(header(10))
  t.equal(d.buffered, 4)
  d.push(Buffer.from('abcd'))
  t.equal(d.buffered, 8)
  t.same(d.push(Buffer.from('efghij' + '\0\0')).map(String), ['abcdefghij'])
  t.equal(d.buffered, 2)
})

t.test('encode adds the header; push frames too', async (t) => {
  t.same(lengthCodec.encode('hi', Buffer.alloc(0)).bytes, Buffer.from([0, 0, 0, 2, 0x68, 0x69]))
  t.equal(lengthCodec.encode(null, Buffer.alloc(0)).bytes, null)
  t.same(lengthCodec.encodePush(Buffer.from('x')), Buffer.from([0, 0, 0, 1, 0x78]))
})
