import t from 'tap'
import { serve, serveUnixEcho } from './fixtures/serve.js'
import net from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { runTcpLoad as runAnyEngine, normalizeTcpLoadOptions } from '../../src/load/tcp-load.js'
import type { TcpLoadOptions, TcpLoadResult } from '../../src/load/tcp-load.js'

/** These tests are of the Node engine (the native one has test/load/native.test.ts). */
async function runTcpLoad (o: TcpLoadOptions): Promise<TcpLoadResult> {
  const r = await runAnyEngine({ engine: 'node', ...o })
  if (r.engine !== 'node') throw new Error(`expected the node engine, ${r.engine} ran`)
  return r
}

type Test = typeof t


const echo = (s: net.Socket): void => { s.pipe(s) }

/** Length-framed server that echoes frames, flipping one payload byte in every `n`-th reply. */
function corruptingLengthServer (n: number): (s: net.Socket) => void {
  let replies = 0 // across connections
  return (s) => {
    let buf = Buffer.alloc(0)
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      const out: Buffer[] = []
      while (buf.length >= 4) {
        const size = buf.readUInt32BE(0)
        if (buf.length < 4 + size) break
        const frame = Buffer.from(buf.subarray(0, 4 + size))
        buf = buf.subarray(4 + size)
        if (++replies % n === 0 && size > 0) frame[4 + (replies % size)]! ^= 0x01
        out.push(frame)
      }
      if (out.length > 0) s.write(Buffer.concat(out))
    })
  }
}

/** Line server that upper-cases ASCII (byte-wise, so it keeps the `\n`s). */
function upperServer (s: net.Socket): void {
  s.on('data', (chunk: Buffer) => {
    const out = Buffer.from(chunk)
    for (let i = 0; i < out.length; i++) if (out[i]! >= 0x61 && out[i]! <= 0x7a) out[i] = out[i]! - 0x20
    s.write(out)
  })
}

function assertClean (t: Test, r: TcpLoadResult): void {
  t.equal(r.mismatches, 0, 'no mismatches')
  t.equal(r.errors.total, 0, `no errors ${JSON.stringify(r.errors)}`)
  t.equal(r.aborted, null)
  t.ok(r.ok, 'ok')
  t.ok(r.requests.completed > 0, `completed ${r.requests.completed}`)
  t.equal(r.latency.count, r.requests.completed, 'one latency per completed request')
  t.ok(JSON.parse(JSON.stringify(r)).requests.completed === r.requests.completed, 'JSON round trip')
}

t.test('options need a bound and sane values', async (t) => {
  t.throws(() => normalizeTcpLoadOptions({ target: { port: 1 }, framing: 'length' }), /bound/)
  t.throws(() => normalizeTcpLoadOptions({ target: { port: 1 }, framing: 'length', durationMs: 11 * 60_000 }), RangeError)
  t.throws(() => normalizeTcpLoadOptions({ target: { port: 1 }, framing: 'length', durationMs: 100, mode: 'open' }), /rate/)
  t.throws(() => normalizeTcpLoadOptions({ target: { port: 1 }, framing: 'http' as never, durationMs: 100 }), /framing/)
  t.throws(() => normalizeTcpLoadOptions({ target: { port: 1 }, framing: 'raw', durationMs: 100, threads: 2, connections: 2, expect: (p) => p }), /threads/)
  const n = normalizeTcpLoadOptions({ target: { port: 1 }, framing: 'raw', amount: 10, threads: 4, connections: 2 })
  t.equal(n.threads, 2, 'no more threads than connections')
  t.equal(normalizeTcpLoadOptions({ target: { port: 1 }, framing: 'raw', amount: 10, threads: 0 }).threads, 0)
  t.equal(normalizeTcpLoadOptions({ target: { port: 1 }, framing: 'raw', amount: 10, expect: (p) => p }).threads, 0)
})

t.test('closed loop, length framing, pipeline 4, ~1 s', async (t) => {
  const port = await serve(t, echo)
  const r = await runTcpLoad({ target: { host: '127.0.0.1', port }, framing: 'length', connections: 4, pipeline: 4, payloadBytes: 64, durationMs: 1000 })
  assertClean(t, r)
  t.ok(r.requests.completed > 1000, `a loopback echo does well over 1000 req/s: ${r.requests.completed}`)
  t.equal(r.requests.incomplete, 0)
  t.equal(r.requests.sent, r.requests.completed)
  t.equal(r.bytes.sent, r.requests.sent * 68, 'wire bytes = requests × (4 + 64)')
  t.equal(r.bytes.received, r.bytes.sent)
  t.ok(r.windowMs >= 999 && r.windowMs < 1500, `window ${r.windowMs}`)
  t.ok(Math.abs(r.throughput.requestsPerSec - r.requests.completed * 1000 / r.windowMs) < 1e-6)
  t.ok(r.latency.min > 0 && r.latency.min <= r.latency.p50 && r.latency.p50 <= r.latency.p99 && r.latency.p99 <= r.latency.max)
  t.equal(r.connections.ready, 4)
  t.equal(r.connectLatency.count, 4, 'connect → first echoed byte for each connection')
  t.ok(r.cpu.process.totalSec > 0 && r.cpu.process.percentOfOneCore > 0)
  if (process.platform === 'linux') {
    t.ok(r.cpu.threads !== null && r.cpu.threads.perThread.length === 1 && r.cpu.threads.wallSec > 0.9, 'load thread CPU')
  }
})

t.test('raw framing: replies split and merged arbitrarily still verify', async (t) => {
  // echo in odd-sized pieces with delays, so reply boundaries never match request boundaries
  const port = await serve(t, (s) => {
    s.on('data', (chunk: Buffer) => {
      for (let p = 0; p < chunk.length; p += 13) s.write(chunk.subarray(p, p + 13))
    })
  })
  const r = await runTcpLoad({ target: { port }, framing: 'raw', connections: 3, pipeline: 3, payloadBytes: 100, durationMs: 500, threads: 0 })
  assertClean(t, r)
  t.equal(r.bytes.received, r.requests.completed * 100)
})

t.test('line framing against an upper-casing server with expect: upper', async (t) => {
  const port = await serve(t, upperServer)
  const r = await runTcpLoad({ target: { port }, framing: 'line', connections: 2, pipeline: 2, payloadBytes: 40, durationMs: 400, expect: 'upper', threads: 0 })
  assertClean(t, r)
  // the same server fails plain echo verification: proves the bytes are really compared
  const bad = await runTcpLoad({ target: { port }, framing: 'line', connections: 1, payloadBytes: 40, durationMs: 200, connectTimeoutMs: 1000, threads: 0 })
  t.notOk(bad.ok)
  t.ok(bad.mismatches > 0)
})

t.test('a corrupting server is caught: mismatches counted, connections dropped and reopened', async (t) => {
  const port = await serve(t, corruptingLengthServer(50))
  const r = await runTcpLoad({ target: { port }, framing: 'length', connections: 2, pipeline: 2, payloadBytes: 32, durationMs: 500, threads: 0 })
  t.ok(r.mismatches > 0, `mismatches ${r.mismatches}`)
  t.equal(r.errors.mismatch, r.mismatches, 'each mismatch is one desync error')
  t.equal(r.errors.byCode.MISMATCH, r.mismatches)
  t.ok(r.connections.opened > 0, 'reconnected after desync')
  t.ok(r.requests.completed > r.mismatches, 'good replies still count')
  t.notOk(r.ok)
})

t.test('open loop at a fixed rate: completed ≈ rate × duration', async (t) => {
  const port = await serve(t, echo)
  const rate = 400
  // pipeline 4: a reply held up by a busy machine does not leave the slot of a request due at the stop
  const r = await runTcpLoad({ target: { port }, framing: 'length', connections: 4, pipeline: 4, mode: 'open', rate, durationMs: 1000, payloadBytes: 32, threads: 0 })
  assertClean(t, r)
  t.equal(r.requests.scheduled, 400, 'schedule has rate × duration requests')
  t.ok(Math.abs(r.requests.completed - rate) <= rate * 0.05, `completed ${r.requests.completed} ≈ ${rate}`)
  t.equal(r.requests.unsent, 0)
  t.ok(Math.abs(r.throughput.requestsPerSec - rate) <= rate * 0.1, `req/s ${r.throughput.requestsPerSec}`)
})

t.test('open loop: requests intended before the stop go out when the timers fire late', async (t) => {
  // the engine runs on this thread (threads: 0): blocking it from 700 ms to 1,300 ms after the first
  // request (the probe) holds every timer past the stop (~1,005 ms), as a loaded machine can
  let first = NaN
  const port = await serve(t, (s) => {
    if (Number.isNaN(first)) {
      first = performance.now()
      setTimeout(() => { const until = first + 1300; while (performance.now() < until); }, 700)
    }
    s.pipe(s)
  })
  const rate = 400
  const r = await runTcpLoad({ target: { port }, framing: 'length', connections: 4, pipeline: 100, mode: 'open', rate, durationMs: 1000, payloadBytes: 32, threads: 0 })
  assertClean(t, r)
  t.equal(r.requests.scheduled, 400)
  t.equal(r.requests.unsent, 0, 'every request intended before the stop was sent')
  t.equal(r.requests.completed, 400)
  t.ok(r.latency.max >= 150, `max ${r.latency.max} ms: the late sends are timed from their intended time`)
})

t.test('open loop corrects for coordinated omission: a stall shows in the tail', async (t) => {
  // echo, but hold every reply from 300 ms to 600 ms after the first request (the probe)
  const port = await serve(t, (s) => {
    let first = NaN
    const held: Buffer[] = []
    s.on('data', (chunk: Buffer) => {
      const now = performance.now()
      if (Number.isNaN(first)) first = now
      const at = now - first
      if (at >= 300 && at < 600) {
        if (held.length === 0) setTimeout(() => { s.write(Buffer.concat(held)); held.length = 0 }, 600 - at)
        held.push(chunk)
      } else {
        s.write(chunk)
      }
    })
  })
  const open = await runTcpLoad({ target: { port }, framing: 'length', connections: 1, pipeline: 1, mode: 'open', rate: 100, durationMs: 1000, payloadBytes: 16, threads: 0 })
  assertClean(t, open)
  // ~30 requests were intended during the stall; each is charged its wait since its intended time
  t.ok(open.latency.max >= 250, `max ${open.latency.max} ms`)
  t.ok(open.latency.p90 >= 50, `p90 ${open.latency.p90} ms reflects the stall (not just the one stalled request)`)
  t.ok(open.latency.p50 < 50, `p50 ${open.latency.p50} ms stays low`)
})

t.test('churn: a new connection per request, connect latency for each', async (t) => {
  const port = await serve(t, echo)
  const r = await runTcpLoad({ target: { port }, framing: 'length', connections: 2, churn: true, durationMs: 500, payloadBytes: 16, threads: 0 })
  assertClean(t, r)
  t.ok(r.requests.completed > 20, `completed ${r.requests.completed}`)
  t.equal(r.connectLatency.count, r.requests.completed, 'one connect → first byte per request')
  t.equal(r.connections.opened, r.requests.completed)
  t.ok(r.connectLatency.min > 0)
})

t.test('threads: 2 → results from both workers merged', async (t) => {
  const port = await serve(t, echo)
  // amount split over the workers (1000 + 1001) and merged back
  const r = await runTcpLoad({ target: { port }, framing: 'length', connections: 4, pipeline: 2, threads: 2, amount: 2001, payloadBytes: 64 })
  assertClean(t, r)
  t.equal(r.options.threads, 2)
  t.equal(r.requests.sent, 2001)
  t.equal(r.requests.completed, 2001)
  t.equal(r.latency.count, 2001, 'latency histograms of both workers merged')
  t.equal(r.connections.ready, 4)
  t.equal(r.connectLatency.count, 4, 'connect histograms of both workers merged')
  if (process.platform === 'linux') t.equal(r.cpu.threads?.perThread.length, 2)
})

t.test('amount-bounded run sends exactly that many', async (t) => {
  const port = await serve(t, echo)
  const r = await runTcpLoad({ target: { port }, framing: 'raw', connections: 3, pipeline: 4, threads: 0, amount: 1001, payloadBytes: 10 })
  assertClean(t, r)
  t.equal(r.requests.sent, 1001)
  t.equal(r.requests.completed, 1001)
})

t.test('a refused target ends fast with refused errors, no hang', async (t) => {
  const port = await serve(t, echo)
  // find a port with nothing listening: take one and close it
  const tmp = net.createServer()
  await new Promise<void>((resolve) => tmp.listen(0, '127.0.0.1', resolve))
  const dead = (tmp.address() as AddressInfo).port
  await new Promise<void>((resolve) => tmp.close(() => resolve()))
  t.not(dead, port)
  const started = performance.now()
  const r = await runTcpLoad({ target: { port: dead }, framing: 'length', connections: 3, durationMs: 5000, threads: 0 })
  t.ok(performance.now() - started < 3000, 'no waiting for the duration')
  t.notOk(r.ok)
  t.match(r.aborted, /no connection/)
  t.equal(r.errors.refused, 3)
  t.equal(r.errors.byCode.ECONNREFUSED, 3)
  t.equal(r.requests.completed, 0)
})

t.test('a server that goes silent: run still ends on time, unanswered requests are timeouts', async (t) => {
  let replies = 0
  const port = await serve(t, (s) => {
    s.on('data', (chunk: Buffer) => { if (++replies <= 50) s.write(chunk) })
  })
  const started = performance.now()
  const r = await runTcpLoad({ target: { port }, framing: 'raw', connections: 2, payloadBytes: 8, durationMs: 300, drainMs: 200, threads: 0 })
  const took = performance.now() - started
  t.ok(took < 1500, `ended after ${took} ms (duration + drain)`)
  t.equal(r.errors.timeout, 2, 'one timeout per stuck connection')
  t.equal(r.errors.byCode.REPLY_TIMEOUT, 2)
  t.equal(r.requests.incomplete, 2)
  t.equal(r.requests.sent, r.requests.completed + 2)
  t.notOk(r.ok)
})

t.test('a server that closes connections: closed errors, reconnects, load goes on', async (t) => {
  const port = await serve(t, (s) => {
    let n = 0
    s.on('data', (chunk: Buffer) => {
      s.write(chunk)
      if (++n === 20) s.end()
    })
  })
  const r = await runTcpLoad({ target: { port }, framing: 'raw', connections: 2, payloadBytes: 8, durationMs: 300, threads: 0 })
  t.ok(r.errors.closed > 0, `closed ${r.errors.closed}`)
  t.equal(r.errors.byCode.EOF, r.errors.closed)
  t.ok(r.connections.opened >= r.errors.closed - 2, 'reconnected')
  t.ok(r.requests.completed > 40)
  t.equal(r.mismatches, 0)
})

t.test('a UNIX socket target', { skip: process.platform === 'win32' }, async (t) => {
  const path = await serveUnixEcho(t)
  const r = await runTcpLoad({ target: { path }, framing: 'length', connections: 2, pipeline: 2, amount: 500, threads: 0 })
  assertClean(t, r)
  t.equal(r.target, path)
  t.equal(r.requests.completed, 500)
})

t.test('expect as a function runs on the calling thread', async (t) => {
  const port = await serve(t, (s) => {
    s.on('data', (chunk: Buffer) => {
      // reverse each newline-terminated line
      const text = chunk.toString('latin1')
      s.write(text.split('\n').map((l) => [...l].reverse().join('')).join('\n'))
    })
  })
  const r = await runTcpLoad({ target: { port }, framing: 'line', connections: 1, payloadBytes: 20, durationMs: 300, expect: (p) => Buffer.from(p).reverse() })
  assertClean(t, r)
  t.equal(r.options.expect, 'custom')
})
