import t from 'tap'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import {
  PEERS,
  buildPeers,
  getPeer,
  startPeer,
  type Peer,
  type StartPeerOptions,
} from '../../src/peers.js'
import type { RunningServer } from '../../src/runner/server.js'
import { readProcessTree } from '@echoplex/proc'
import { parseListeningLine, tcpHostPort } from '@echoplex/server'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

interface Teardownable { teardown (fn: () => unknown): void }

/** Starts a peer; whatever happens, its process group is killed at teardown. */
async function start (t: Teardownable, peer: Peer, options: StartPeerOptions = {}): Promise<RunningServer> {
  const server = await startPeer(peer, options)
  t.teardown(async () => {
    try { process.kill(-server.pid, 'SIGKILL') } catch { /* already gone */ }
    await Promise.race([server.exited, sleep(3000)])
  })
  return server
}

function connect (port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => { s.off('error', reject); resolve(s) })
    s.once('error', reject)
  })
}

/** Reads until `n` bytes arrived (rejects on close/timeout before that). */
function readExactly (s: net.Socket, n: number, timeoutMs = 10000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let got = 0
    const timer = setTimeout(() => done(new Error(`timeout: got ${got} of ${n} bytes`)), timeoutMs)
    const onData = (d: Buffer): void => {
      chunks.push(d)
      got += d.length
      if (got >= n) done(null)
    }
    const onEnd = (): void => done(new Error(`closed after ${got} of ${n} bytes`))
    const done = (err: Error | null): void => {
      clearTimeout(timer)
      s.off('data', onData)
      s.off('end', onEnd)
      s.off('error', onEnd)
      if (err !== null) reject(err)
      else resolve(Buffer.concat(chunks))
    }
    s.on('data', onData)
    s.once('end', onEnd)
    s.once('error', onEnd)
  })
}

/** Sends `payload` in several writes with short pauses and returns what came back. */
async function echoInPieces (port: number, payload: Buffer): Promise<Buffer> {
  const s = await connect(port)
  try {
    const back = readExactly(s, payload.length)
    const cuts = [0, 1, 7, 100, 333, 512, 999, payload.length].filter((c) => c <= payload.length)
    for (let i = 0; i + 1 < cuts.length; i++) {
      s.write(payload.subarray(cuts[i], cuts[i + 1]))
      await sleep(5)
    }
    return await back
  } finally {
    s.destroy()
  }
}

let built: Awaited<ReturnType<typeof buildPeers>> = []
t.before(async () => { built = await buildPeers() })

t.test('registry', async (t) => {
  t.same(PEERS.map((b) => b.name).sort(), ['c-epoll', 'node-http', 'node-net', 'py-forking', 'py-threading'])
  t.equal(getPeer('node-http')?.framing, 'http')
  for (const name of ['node-net', 'c-epoll', 'py-forking', 'py-threading']) t.equal(getPeer(name)?.framing, 'raw', name)
  t.equal(getPeer('nope'), undefined)
  for (const b of PEERS) {
    t.equal(b.model, b.name)
    t.ok(isAbsolute(b.source) && existsSync(b.source), `${b.name} source ${b.source}`)
    const cmd = b.command(7123)
    t.ok(isAbsolute(cmd.command) || cmd.command === 'python3', `${b.name} command ${cmd.command}`)
    t.ok(cmd.args.includes('7123'), 'port passed')
    const a = b.available()
    t.ok(a.ok || (typeof a.note === 'string' && a.note.length > 0), `${b.name}: ${a.ok ? 'available' : a.note}`)
  }
  const c = built.find((r) => r.name === 'c-epoll')
  t.ok(c, 'build reported the C peer')
  t.ok(c?.ok === true || c?.skipped === true, `c-epoll build: ${c?.note ?? 'built'}`)
  if (c?.ok === true) t.same(getPeer('c-epoll')?.available(), { ok: true })
  t.same((await buildPeers())[0]?.note, c?.ok === true ? 'up to date' : c?.note, 'second build is a no-op')
})

for (const peer of PEERS) {
  t.test(peer.name, async (t) => {
    // checked here, after t.before has built the C peer
    const a = peer.available()
    if (!a.ok) {
      t.skip(`${peer.name} unavailable: ${a.note}`)
      return
    }
    const server = await start(t, peer)
    const listening = parseListeningLine(server.line)
    t.ok(listening, `line: ${server.line}`)
    t.equal(listening?.model, peer.name, 'model=<name>')
    t.same(tcpHostPort(listening?.address ?? ''), { host: '127.0.0.1', port: server.port }, '<host>:<port>')
    t.equal(server.host, '127.0.0.1')
    t.ok(server.port > 0)
    t.equal(server.pid, server.child.pid, 'pid= is the process we started')

    if (peer.framing === 'http') {
      const payload = randomBytes(1000)
      const res = await fetch(`http://127.0.0.1:${server.port}/echo`, { method: 'POST', body: payload })
      t.equal(res.status, 200)
      t.ok(Buffer.from(await res.arrayBuffer()).equals(payload), '1000 random bytes echoed')
      const empty = await fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body: '' })
      t.equal(empty.status, 200)
      t.equal((await empty.arrayBuffer()).byteLength, 0, 'empty body → empty reply')
      const get = await fetch(`http://127.0.0.1:${server.port}/`)
      t.equal(get.status, 200)
      t.equal(get.headers.get('connection'), 'keep-alive')
      t.equal((await get.arrayBuffer()).byteLength, 0)
    } else {
      const payload = randomBytes(1000)
      t.ok((await echoInPieces(server.port, payload)).equals(payload), '1000 random bytes in several writes, echoed exactly')
      // several clients at once
      const many = await Promise.all(Array.from({ length: 8 }, async () => {
        const p = randomBytes(4096)
        return (await echoInPieces(server.port, p)).equals(p)
      }))
      t.ok(many.every(Boolean), '8 concurrent clients')
    }

    // SIGTERM with a client still connected → exit 0, nothing left behind
    const idle = await connect(server.port)
    idle.on('error', () => {})
    t.teardown(() => idle.destroy())
    await sleep(100)
    const status = await server.stop()
    t.has(status, { code: 0, signal: null, killed: false, leftover: [] }, 'SIGTERM → exit 0, nothing left in its process group')
    t.same((await readProcessTree(server.pid)).processes, [], 'gone')
  })
}

t.test('c-epoll: 1 MiB to a slow reader comes back complete and in order', async (t) => {
  const peer = getPeer('c-epoll') as Peer
  const a = peer.available()
  if (!a.ok) {
    t.skip(`c-epoll unavailable: ${a.note}`)
    return
  }
  const server = await start(t, peer, { env: { ECHOPLEX_PEER_STATS: '1' } })

  const slowEcho = async (size: number, stallMs: number): Promise<Buffer> => {
    const payload = randomBytes(size)
    const s = await connect(server.port)
    t.teardown(() => s.destroy())
    const chunks: Buffer[] = []
    let got = 0
    const back = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout: got ${got} of ${size}`)), 60000)
      s.on('data', (d: Buffer) => {
        chunks.push(d)
        got += d.length
        if (got >= size) { clearTimeout(timer); resolve(Buffer.concat(chunks)) }
        // read slowly: at most one chunk every 3 ms
        s.pause()
        setTimeout(() => s.resume(), 3)
      })
      s.once('error', (e) => { clearTimeout(timer); reject(e) })
      s.once('end', () => { clearTimeout(timer); reject(new Error(`closed after ${got} of ${size}`)) })
    })
    s.pause() // read nothing at first: the server's writes must back up
    s.write(payload)
    await sleep(stallMs)
    s.resume()
    const echoed = await back
    t.equal(echoed.length, size, 'every byte came back')
    t.ok(echoed.equals(payload), 'in order, unchanged')
    s.destroy()
    return echoed
  }

  await slowEcho(1024 * 1024, 300)
  await slowEcho(16 * 1024 * 1024, 500)

  const status = await server.stop()
  t.has(status, { code: 0, signal: null, killed: false, leftover: [] })
  const stats = /stats accepted=(\d+) bytes=(\d+) partial_writes=(\d+) eagain=(\d+)/.exec(server.stderr())
  t.ok(stats, `stats: ${server.stderr().trim()}`)
  t.equal(Number(stats?.[2]), 17 * 1024 * 1024, 'server wrote exactly what it got')
  t.ok(Number(stats?.[3]) + Number(stats?.[4]) > 0, 'the partial-write path was exercised')
})
