/**
 * The zygote's channel to a child (a V8-serialized message stream over a socket pair), over real UNIX
 * stream sockets: messages arrive whole and in order, and a child's last message is read even when
 * the primary wrote to the child after it exited (the write fails with EPIPE) before reading it.
 */
import t from 'tap'
import { once } from 'node:events'
import { writeSync } from 'node:fs'
import { Socket } from 'node:net'
import { serialize } from 'node:v8'
import { buildKernelAccept, loadKernelAccept } from '../../src/sources/kernel-accept.js'
import { streamChannel } from '../../src/ipc/stream-channel.js'

type Test = typeof t

const built = await buildKernelAccept()

/** One message as the channel frames it: its length, then its V8 serialization. */
function frame (message: unknown): Buffer {
  const body = serialize(message)
  const header = Buffer.alloc(4)
  header.writeUInt32BE(body.length, 0)
  return Buffer.concat([header, body])
}

if (!built.ok) {
  t.pass(`no fork addon here (${built.reason}): strict fork boots each child, and no zygote channel is used`)
} else {
  const addon = loadKernelAccept(built.path)

  /** A connected pair: ours (a channel end, read and written through two descriptors, or one) and the child's raw socket. */
  function pair (t: Test, twoDescriptors: boolean): { ours: Socket, writer: Socket, theirs: Socket } {
    const fds = addon.socketPair()
    if (typeof fds === 'number') throw new Error(`no socket pair (errno ${-fds})`)
    const ours = new Socket({ fd: fds[0], readable: true, writable: true })
    const writer = twoDescriptors ? new Socket({ fd: addon.dup(fds[0]), readable: false, writable: true }) : ours
    const theirs = new Socket({ fd: fds[1], readable: true, writable: true })
    t.teardown(() => { ours.destroy(); writer.destroy(); theirs.destroy() })
    return { ours, writer, theirs }
  }

  t.test('messages arrive whole and in order, however the bytes are split', async (t) => {
    const { ours, writer, theirs } = pair(t, true)
    const channel = streamChannel(ours, writer)
    const got: unknown[] = []
    channel.onMessage((m) => got.push(m))
    const bytes = Buffer.concat([1, 2, 3].map((n) => frame({ type: 'n', n, data: Buffer.alloc(n * 1000, n) })))
    // one byte, then the rest in two uneven pieces
    for (const piece of [bytes.subarray(0, 1), bytes.subarray(1, 2500), bytes.subarray(2500)]) {
      theirs.write(piece)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.same(got.map((m) => (m as { n: number }).n), [1, 2, 3])
    t.equal((got[2] as { data: Uint8Array }).data.byteLength, 3000, 'bytes cross as bytes')
    // and the other way
    t.equal(channel.send({ type: 'hello' }), true)
    const [chunk] = await once(theirs, 'data') as [Buffer]
    t.same(chunk, frame({ type: 'hello' }))
  })

  t.test('one message relayed to several channels: the same bytes on each; a message changed in a later turn is framed afresh', async (t) => {
    const a = pair(t, true)
    const b = pair(t, true)
    const toA = streamChannel(a.ours, a.writer)
    const toB = streamChannel(b.ours, b.writer)
    const message = { type: 'broadcast', data: Buffer.from('hello, both') }
    // as the primary's hub relays it: one object, sent on one channel after another in one turn
    t.equal(toA.send(message), true)
    t.equal(toB.send(message), true)
    const [[gotA], [gotB]] = await Promise.all([once(a.theirs, 'data'), once(b.theirs, 'data')]) as [[Buffer], [Buffer]]
    t.same(gotA, frame(message))
    t.same(gotB, frame(message))
    // the frame is kept only until the end of the turn: the same object, changed, is serialized again
    message.data = Buffer.from('changed')
    await new Promise((resolve) => setImmediate(resolve))
    t.equal(toA.send(message), true)
    const [again] = await once(a.theirs, 'data') as [Buffer]
    t.same(again, frame(message))
  })

  /**
   * The child writes its last message and exits with the primary's messages unread (so the kernel
   * resets the pair); the primary, busy, has not read it yet, and writes to the child first: EPIPE. On
   * one descriptor, Node destroys the socket on that failed write, with the last message still unread.
   */
  async function lastWordAfterAFailedWrite (t: Test, twoDescriptors: boolean): Promise<{ got: unknown[], writeFailed: boolean, closed: boolean }> {
    const fds = addon.socketPair()
    if (typeof fds === 'number') throw new Error(`no socket pair (errno ${-fds})`)
    writeSync(fds[0], frame({ type: 'broadcast', n: 1 })) // what the child never reads
    const theirs = new Socket({ fd: fds[1], readable: false, writable: true })
    await new Promise<void>((resolve) => theirs.write(frame({ type: 'bye', counters: 7 }), () => resolve()))
    theirs.destroy() // closed with unread bytes: the primary's end is reset
    await once(theirs, 'close')
    // the primary's end only now: its loop has not read a byte of it
    const ours = new Socket({ fd: fds[0], readable: true, writable: true })
    const writer = twoDescriptors ? new Socket({ fd: addon.dup(fds[0]), readable: false, writable: true }) : ours
    t.teardown(() => { ours.destroy(); writer.destroy() })
    const channel = streamChannel(ours, writer)
    const got: unknown[] = []
    channel.onMessage((m) => got.push(m))
    let closed = false
    channel.onClose(() => { closed = true })
    // it relays to the child that is gone before its loop reads: the write fails (EPIPE)
    let writeFailed = false
    channel.send({ type: 'broadcast', n: 2 }, undefined, (err) => { writeFailed = err !== null })
    // (not events.once: the failed write's 'error' would reject it)
    await new Promise((resolve) => { ours.once('close', resolve); setTimeout(resolve, 2000) })
    await new Promise((resolve) => setImmediate(resolve))
    return { got, writeFailed, closed }
  }

  t.test('a write to a child that has exited does not lose what it sent before it exited', async (t) => {
    const { got, writeFailed, closed } = await lastWordAfterAFailedWrite(t, true)
    t.ok(writeFailed, 'the write to it failed')
    t.same(got, [{ type: 'bye', counters: 7 }], 'its last message is read')
    t.ok(closed, 'then the channel closes')
  })

  t.test('on one descriptor the failed write loses it (why the primary writes on a second)', async (t) => {
    const { got, writeFailed, closed } = await lastWordAfterAFailedWrite(t, false)
    t.ok(writeFailed, 'the write to it failed')
    t.same(got, [], 'the last message is gone with the socket')
    t.ok(closed, 'the channel closed')
  })
}
