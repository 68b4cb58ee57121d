import t from 'tap'
import { serve } from './fixtures/serve.js'
import net from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { runTcpLoad } from '../../src/load/tcp-load.js'
import { FrameCheckVerifier, loadLoadScript, ScriptRequests, validateLoadScript, type LoadScript } from '../../src/load/script.js'

type Test = typeof t

const dir = mkdtempSync(join(tmpdir(), 'echoplex-load-script-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))


/** The README's `shout` handler as a plain server: greets, then `LINE!` for every line. */
function shoutServer (s: net.Socket): void {
  s.write('welcome\n')
  let buf = ''
  s.setEncoding('utf8').on('data', (d: string) => {
    buf += d
    let nl: number
    while ((nl = buf.indexOf('\n')) !== -1) {
      s.write(`${buf.slice(0, nl).toUpperCase()}!\n`)
      buf = buf.slice(nl + 1)
    }
  })
}

t.test('a load script is checked before it runs', async (t) => {
  t.match(validateLoadScript(null, 'line'), /not an object/)
  t.match(validateLoadScript({ reply: () => 'x' }, 'line'), /request\(n\)/)
  t.match(validateLoadScript({ request: () => 'x' }, 'line'), /reply\(n, request\) or check/)
  t.match(validateLoadScript({ request: () => 'x', reply: () => 'x', check: () => true }, 'line'), /not both/)
  t.match(validateLoadScript({ request: () => 'x', check: () => true }, 'raw'), /check\(\) needs line or length framing/)
  t.match(validateLoadScript({ framing: 'length', request: () => 'x', reply: () => 'x' }, 'line'), /written for length framing, but the handler uses line/)
  t.equal(validateLoadScript({ request: () => 'x', reply: () => 'x' }, 'raw'), undefined)
  const bad = join(dir, 'bad.mjs')
  writeFileSync(bad, 'export default { reply () { return "x" } }\n')
  await t.rejects(loadLoadScript(bad, 'line'), { code: 'EPX_LOAD_SCRIPT', message: `load script ${bad}: missing a request(n) function` })
  await t.rejects(loadLoadScript(join(dir, 'none.mjs'), 'line'), { code: 'EPX_LOAD_SCRIPT' })
})

t.test('request n is dense and unique across load threads; replies are framed like requests', async (t) => {
  const script: LoadScript = { request: (n) => `q${n}`, reply: (n) => `a${n}` }
  const a = new ScriptRequests(script, 'length', 0, 2)
  const b = new ScriptRequests(script, 'length', 1, 2)
  const ns = [a.request(0), b.request(0), a.request(1), b.request(1)].map((r) => r.subarray(4).toString())
  t.same(ns, ['q0', 'q1', 'q2', 'q3'])
  const batch = a.batch(2, 2)
  t.same(batch.wire, Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('q4'), Buffer.from([0, 0, 0, 2]), Buffer.from('q6')]))
  t.same(batch.expected.map((e) => e.toString('latin1')), ['\0\0\0\u0002a4', '\0\0\0\u0002a6'])
})

t.test('check mode: each reply frame is checked against its request, whatever the split', async (t) => {
  const seen: string[] = []
  const script: LoadScript = { request: (n) => `x${n}`, check: (reply, n, req) => { seen.push(`${n}:${req.toString()}`); return reply.toString() === `X${n}` || `want X${n}` } }
  const src = new ScriptRequests(script, 'line')
  const v = src.verifier(4)
  t.ok(v instanceof FrameCheckVerifier)
  for (let i = 0; i < 3; i++) { const r = src.request(i); v.push(src.expected(r, i), i) }
  const completed: number[] = []
  const stream = Buffer.from('X0\nX1\nX2\n')
  for (const b of stream) t.equal(v.feed(Buffer.from([b]), (start) => completed.push(start)), true)
  t.same(completed, [0, 1, 2], 'every reply, in order, one byte at a time')
  t.same(seen, ['0:x0', '1:x1', '2:x2'])
  const r = src.request(3)
  v.push(src.expected(r, 3), 3)
  t.equal(v.feed(Buffer.from('nope\n'), () => {}), false)
  t.match(v.mismatch, /request 3 "x3" got "nope": want X3/)
})

t.test('a handler that greets and is not an echo is loaded and verified with a script, on two load threads', async (t) => {
  const port = await serve(t, shoutServer)
  const path = join(dir, 'shout-load.mjs')
  writeFileSync(path, 'export default { greeting: "welcome\\n", request (n) { return `hello ${n}` }, reply (n) { return `HELLO ${n}!` } }\n')
  const r = await runTcpLoad({ target: { port }, framing: 'line', connections: 4, threads: 2, durationMs: 300, script: path })
  t.equal(r.aborted, null)
  t.equal(r.mismatches, 0, String(r.firstMismatch))
  t.equal(r.errors.total, 0)
  t.ok(r.requests.completed > 0, `completed ${r.requests.completed}`)
  t.equal(r.options.expect, 'script')
  t.equal(r.connections.ready, 4, 'every connection got past the greeting and its probe')
})

t.test('check-mode script objects run on the calling thread and report the first wrong reply', async (t) => {
  const port = await serve(t, shoutServer)
  const good = await runTcpLoad({
    target: { port }, framing: 'line', connections: 2, durationMs: 200,
    script: { greeting: 'welcome\n', request: (n) => `hi ${n}`, check: (reply, n) => reply.toString() === `HI ${n}!` },
  })
  t.equal(good.ok, true, `ok (${good.firstMismatch})`)
  t.equal(good.options.threads, 0)
  const wrong = await runTcpLoad({
    target: { port }, framing: 'line', connections: 2, durationMs: 200,
    script: { greeting: 'welcome\n', request: (n) => `hi ${n}`, check: (reply) => reply.toString() === 'nope' || 'wanted nope' },
  })
  t.equal(wrong.ok, false)
  t.match(wrong.aborted, /the server answered the load script's first request with something else \(request \d+ "hi \d+" got "HI \d+!": wanted nope\)/)
})

t.test('an echo expectation on a handler that answers otherwise says what came back', async (t) => {
  const port = await serve(t, shoutServer)
  const r = await runTcpLoad({ target: { port }, framing: 'line', connections: 2, durationMs: 200 })
  t.equal(r.ok, false)
  t.match(r.aborted, /^the server answered a 64 B line request \(expecting it echoed\) with something else \(expected "0000.*got "welcome\\n.*--load-script/)
})

t.test('connections that open but get no reply say so at the first-reply timeout, not the connect timeout', async (t) => {
  const port = await serve(t, () => {}) // accepts, reads, never answers
  const t0 = performance.now()
  const r = await runTcpLoad({ target: { port }, framing: 'line', connections: 3, threads: 1, durationMs: 200, connectTimeoutMs: 30_000, firstReplyTimeoutMs: 400 })
  const ms = performance.now() - t0
  t.ok(ms < 5000, `gave up after ${Math.round(ms)} ms, not the 30 s connect timeout`)
  t.match(r.aborted, /^connected, but no reply to a 64 B line request \(expecting it echoed\) within 400 ms/)
  t.equal(r.errors.byCode.NO_REPLY, 3)
  t.equal(r.errors.timeout, 3)
})
