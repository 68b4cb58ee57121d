#!/usr/bin/env node
/**
 * Is the load generator the ceiling? In one run: starts the C epoll peer and an echoplex event-loop
 * server (echo handler), and loads each with a minimal C ping-pong client (benchmarks/clients/
 * pingpong.c) and with the raw TCP generator of `echoplex bench` (native engine, then Node engine),
 * all at the same payload size and connection count, in interleaved rounds (so drift hits every
 * client alike). Prints round trips per second per round, their median, and the ratio of each
 * generator engine to the C client against the same server (the median over rounds of the ratio
 * within a round). Target: ≥ 0.9× against c-epoll.
 *
 *   pnpm run build && node benchmarks/generator-ceiling.mjs [--seconds 3] [--warmup 0.5] [--rounds 3]
 *     [--connections 16] [--size 64] [--pin auto|none|SERVER_CPUS:LOAD_CPUS]
 *
 * --pin auto (default) puts the server on CPU 0 and every client on CPU 1 with taskset, when there
 * are 2+ CPUs and taskset is present; the output says which. Every process started here is stopped
 * (process groups) before the script exits, also on Ctrl-C.
 */
import { execFileSync, spawn } from 'node:child_process'
import { availableParallelism, loadavg } from 'node:os'
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const dist = (p) => new URL(`../packages/bench/dist/${p}`, import.meta.url)
let bench
try {
  bench = {
    ...(await import(dist('peers.js'))),
    ...(await import(dist('runner/server.js'))),
    ...(await import(dist('load/tcp-load.js'))),
    ...(await import(dist('load/native.js'))),
  }
} catch (e) {
  console.error(`generator-ceiling: @echoplex/bench is not built (run pnpm run build): ${e.message.split('\n')[0]}`)
  process.exit(2)
}

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '0.5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    size: { type: 'string', default: '64' },
    pin: { type: 'string', default: 'auto' },
  },
})
const num = (name, min, max) => {
  const v = Number(flags[name])
  if (!Number.isFinite(v) || v < min || v > max) {
    console.error(`generator-ceiling: --${name} must be a number from ${min} to ${max}`)
    process.exit(2)
  }
  return v
}
const seconds = num('seconds', 0.2, 60)
const warmup = num('warmup', 0, 10)
const rounds = Math.round(num('rounds', 1, 20))
const connections = Math.round(num('connections', 1, 1000))
const size = Math.round(num('size', 1, 1 << 20))

const CLIENT_SRC = fileURLToPath(new URL('./clients/pingpong.c', import.meta.url))
const CLIENT_BIN = fileURLToPath(new URL('./clients/bin/pingpong', import.meta.url))

/** Compiles the C client if its binary is missing or older than its source. */
function buildClient () {
  try {
    if (statSync(CLIENT_BIN).mtimeMs >= statSync(CLIENT_SRC).mtimeMs) return
  } catch { /* build it */ }
  const cc = bench.findNativeCompiler()
  if (cc === null) throw new Error('no C compiler (cc, gcc, clang; or set CC): the C client cannot be built')
  mkdirSync(join(CLIENT_BIN, '..'), { recursive: true })
  const tmp = `${CLIENT_BIN}.${process.pid}.tmp`
  try {
    execFileSync(cc, ['-O2', '-Wall', '-o', tmp, CLIENT_SRC], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 })
    renameSync(tmp, CLIENT_BIN)
  } finally {
    rmSync(tmp, { force: true })
  }
}

/** { server, load } CPU lists, or null (with why) when not pinning. */
function pinning () {
  if (flags.pin === 'none') return { pin: null, why: 'off (--pin none)' }
  let taskset = null
  try { execFileSync('taskset', ['--version'], { stdio: 'ignore' }); taskset = 'taskset' } catch { /* absent */ }
  if (flags.pin !== 'auto') {
    const m = /^([\d,-]+):([\d,-]+)$/.exec(flags.pin)
    if (m === null) { console.error('generator-ceiling: --pin is auto, none or SERVER_CPUS:LOAD_CPUS (e.g. 0:1)'); process.exit(2) }
    if (taskset === null) return { pin: null, why: 'unavailable: taskset (util-linux) not found' }
    return { pin: { server: m[1], load: m[2] }, why: `server on CPU ${m[1]}, clients on CPU ${m[2]} (taskset)` }
  }
  if (taskset === null) return { pin: null, why: 'unavailable: taskset (util-linux) not found' }
  if (availableParallelism() < 2) return { pin: null, why: 'unavailable: fewer than 2 CPUs' }
  const cpus = availableParallelism()
  const load = cpus >= 4 ? `${Math.floor(cpus / 2)}-${cpus - 1}` : '1'
  const server = cpus >= 4 ? `0-${Math.floor(cpus / 2) - 1}` : '0'
  return { pin: { server, load }, why: `server on CPU ${server}, clients on CPU ${load} (taskset)` }
}

const started = new Set() // RunningServer
const clients = new Set() // ChildProcess (own process group)

function killClients () {
  for (const c of clients) {
    try { process.kill(-c.pid, 'SIGKILL') } catch { /* gone */ }
  }
  clients.clear()
}

async function stopAll () {
  killClients()
  await Promise.all([...started].map((s) => s.stop(3000).catch(() => {})))
  started.clear()
}

process.once('SIGINT', () => { void stopAll().then(() => process.exit(130)) })
process.once('SIGTERM', () => { void stopAll().then(() => process.exit(143)) })

async function startServer (label, spec, pin) {
  const pinned = pin === null ? spec : { ...spec, command: 'taskset', args: ['-c', pin.server, spec.command, ...spec.args] }
  const s = bench.spawnServer(pinned, label)
  started.add(s)
  await s.ready(15_000)
  return s
}

/** Runs the C client; resolves with round trips per second. */
function runClient (port, pin) {
  const args = ['127.0.0.1', String(port), String(connections), String(size), String(seconds), String(warmup)]
  const [cmd, argv] = pin === null ? [CLIENT_BIN, args] : ['taskset', ['-c', pin.load, CLIENT_BIN, ...args]]
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    clients.add(child)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL') } catch { /* gone */ } }, (seconds + warmup + 15) * 1000)
    child.once('error', (e) => { clearTimeout(timer); clients.delete(child); reject(e) })
    child.once('close', (code) => {
      clearTimeout(timer)
      clients.delete(child)
      const m = /seconds=([\d.]+) roundtrips=(\d+) rate=(\d+) cpu=([\d.]+) mismatches=(\d+) errors=(\d+)/.exec(out)
      if (code !== 0 || m === null) { reject(new Error(`C client failed (${code}): ${(err || out).trim()}`)); return }
      resolve({ rate: Number(m[3]), cpu: Number(m[4]) / Number(m[1]) * 100 })
    })
  })
}

/** Runs the generator with `engine`; resolves with round trips per second and its CPU. */
async function runGenerator (port, engine) {
  const r = await bench.runTcpLoad({
    target: { host: '127.0.0.1', port },
    framing: 'raw',
    connections,
    payloadBytes: size,
    durationMs: seconds * 1000,
    warmupMs: warmup * 1000,
    threads: 1,
    engine,
  })
  if (r.engine !== engine) throw new Error(`asked for the ${engine} engine, ${r.engine} ran: ${r.engineNote}`)
  if (!r.ok) throw new Error(`generator (${engine}) run not ok: ${r.aborted ?? ''} mismatches=${r.mismatches} errors=${JSON.stringify(r.errors.byCode)}`)
  const cpu = r.cpu.threads?.percentOfOneCore ?? r.cpu.process.percentOfOneCore
  return { rate: r.throughput.requestsPerSec, cpu }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const k = (v) => `${(v / 1000).toFixed(1)}k`

async function main () {
  const cpus = availableParallelism() // before pinning narrows it
  const { pin, why } = pinning()
  if (pin !== null) execFileSync('taskset', ['-a', '-p', '-c', pin.load, String(process.pid)], { stdio: 'ignore' })
  const built = await bench.buildPeers()
  if (!built[0].ok) throw new Error(`c-epoll peer: ${built[0].note}`)
  buildClient()
  const native = await bench.ensureNativeEngine()
  const engines = native.ok ? ['native', 'node'] : ['node']

  console.log(`generator ceiling: ${connections} connections, ${size} B raw echo, ${seconds} s (+${warmup} s warmup) per run, ${rounds} round(s)`)
  console.log(`machine: ${cpus} CPUs, load average ${loadavg()[0].toFixed(2)} at the start; pinning: ${why}`)
  if (!native.ok) console.log(`native engine unavailable (${native.reason}): only the Node engine runs`)

  const peerSpec = bench.peerSpec(bench.getPeer('c-epoll'))
  const echoplexSpec = { command: process.execPath, args: [bench.ECHOPLEX_BIN, 'serve', '--model', 'event-loop', '--handler', 'echo', '--port', '0', '--grace', '3s'] }
  const targets = [
    { name: 'c-epoll', server: await startServer('c-epoll', peerSpec, pin) },
    { name: 'event-loop', server: await startServer('event-loop', echoplexSpec, pin) },
  ]
  const loaders = ['C client', ...engines.map((e) => `generator (${e})`)]
  const rates = new Map() // `${target}|${loader}` → { rates: [], cpus: [] }
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      // rotate the order each round so no loader always runs first
      const order = loaders.map((_, i) => loaders[(i + round - 1) % loaders.length])
      for (const loader of order) {
        const port = target.server.port
        const res = loader === 'C client' ? await runClient(port, pin) : await runGenerator(port, loader.slice(11, -1))
        const key = `${target.name}|${loader}`
        const cell = rates.get(key) ?? { rates: [], cpus: [], cpuUs: [] }
        cell.rates.push(res.rate)
        cell.cpus.push(res.cpu)
        // CPU µs per round trip: what the client costs, which contention on the machine moves far less than the rate
        cell.cpuUs.push(res.cpu / 100 / res.rate * 1e6)
        rates.set(key, cell)
        process.stderr.write(`  round ${round} ${target.name.padEnd(10)} ${loader.padEnd(20)} ${k(res.rate)}/s  (client CPU ${res.cpu.toFixed(0)}% of a core)\n`)
      }
    }
  }

  console.log('')
  console.log(`${'server'.padEnd(11)} ${'client'.padEnd(20)} ${'median/s'.padEnd(9)} ${'rounds /s'.padEnd(34)} ${'× C client'.padEnd(11)} ${'per round'.padEnd(29)} ${'CPU'.padEnd(5)} CPU µs/rt`)
  const ratios = {}
  const costs = {}
  for (const target of targets) {
    const base = rates.get(`${target.name}|C client`).rates
    for (const loader of loaders) {
      const cell = rates.get(`${target.name}|${loader}`)
      // the ratio within each round (the C client ran next to it) is less exposed to drift than
      // a ratio of medians; the headline is the median of those
      const perRound = cell.rates.map((v, i) => v / base[i])
      const ratio = median(perRound)
      if (loader !== 'C client') ratios[`${target.name}|${loader}`] = ratio
      costs[`${target.name}|${loader}`] = median(cell.cpuUs)
      const cpu = `${median(cell.cpus).toFixed(0)}%`
      console.log(`${target.name.padEnd(11)} ${loader.padEnd(20)} ${k(median(cell.rates)).padEnd(9)} ${cell.rates.map(k).join(' ').padEnd(34)} ${ratio.toFixed(3).padEnd(11)} ${perRound.map((r) => r.toFixed(2)).join(' ').padEnd(29)} ${cpu.padEnd(5)} ${median(cell.cpuUs).toFixed(2)}`)
    }
  }
  console.log(`load average ${loadavg()[0].toFixed(2)} at the end (other work on the machine skews every figure)`)
  console.log('× C client: median over rounds of (generator / C client in the same round); CPU: the client\'s own CPU (the C client, or the')
  console.log('generator\'s load engine) in % of one core; CPU µs/rt: that CPU per round trip (median over rounds)')
  for (const engine of engines) {
    const r = ratios[`c-epoll|generator (${engine})`]
    const c = costs[`c-epoll|generator (${engine})`] / costs['c-epoll|C client']
    console.log(`generator (${engine}) / C client against c-epoll: ${r.toFixed(3)} of the round trips/s — target ≥ 0.9: ${r >= 0.9 ? 'met' : 'NOT met'}; ${c.toFixed(2)}× the C client's CPU per round trip`)
  }
}

try {
  await main()
} catch (e) {
  console.error(`generator-ceiling: ${e.message.split('\n')[0]}`)
  process.exitCode = 1
} finally {
  await stopAll()
}
