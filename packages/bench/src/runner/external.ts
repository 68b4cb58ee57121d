/**
 * External targets (`echoplex bench --target HOST:PORT`): servers echoplex did not start — another
 * host, a load balancer, a container. Nothing is spawned or stopped; before loading, one request
 * checks the target answers the workload right, so a target that refuses, resets or answers wrongly
 * fails its scenarios with one clear line and the run's other targets go on. Its process tree is
 * sampled only when its pid on this machine is given (`--target-pid`).
 */
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { startSampler, type Sampler } from '@echoplex/proc'
import type { Repetition, ScenarioConfig, SuiteConfig, TargetConfig } from '@echoplex/results'
import { PayloadFactory, preview, type Expect } from '../load/payload.js'
import { runScenarioLoad, workExpect, workRoundsOf } from './load.js'
import { idleSample, judgeLoad, newRepetition } from './measure.js'
import { SuiteError } from './suite.js'
import { primeWorkDigests, steadyWarmupOn, warmUntilSteady } from './steady.js'
import { buildTimeline, slowStart, stillWarming } from './timeline.js'
import { WindowRecorder } from './window.js'

/** How long the pre-load check waits to connect and for its one reply. */
export const PROBE_TIMEOUT_MS = 5000

/** `HOST:PORT` or `[IPv6]:PORT`. */
export function parseTarget (text: string): { host: string, port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text.trim())
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port < 1 || port > 65535) throw new SuiteError(`--target ${JSON.stringify(text)}: expected HOST:PORT or [IPv6]:PORT with a port from 1 to 65535`)
  return { host: m[1] ?? m[2]!, port }
}

/**
 * The suite with `targets` as external targets. Asking for targets means measuring them: the
 * suite's models and peers are dropped unless `keep` says the user named them too. `pids`, when
 * given, pair up with `targets` in order.
 */
export function withExternalTargets (suite: SuiteConfig, targets: string[], pids: number[] = [], keep: { models?: boolean, peers?: boolean } = {}): SuiteConfig {
  if (pids.length > 0 && pids.length !== targets.length) {
    throw new SuiteError(`--target-pid: ${pids.length} pid(s) for ${targets.length} target(s); give one per --target, in the same order`)
  }
  const external: TargetConfig[] = []
  targets.forEach((text, i) => {
    const { host, port } = parseTarget(text)
    const label = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    if (external.some((t) => t.label === label)) throw new SuiteError(`--target ${label} appears twice`)
    if (suite.models.some((m) => m.label === label)) throw new SuiteError(`--target ${label} has the same name as a model of the suite`)
    const pid = pids[i] ?? null
    if (pid !== null && !existsSync(`/proc/${pid}`)) throw new SuiteError(`--target-pid ${pid}: no such process on this machine`)
    external.push({ kind: 'external', name: label, label, workers: null, spares: null, external: { host, port, pid } })
  })
  return {
    ...suite,
    models: keep.models === true ? suite.models : [],
    peers: keep.peers === true ? suite.peers : [],
    external,
  }
}

/** One request of the scenario's workload, and how to judge the bytes that come back. */
function probeExchange (sc: ScenarioConfig): { wire: Buffer, judge: (got: Buffer, closed: boolean) => 'ok' | 'more' | string } {
  const w = sc.workload
  const size = Math.min(sc.payloadBytes, 64 * 1024)
  if (w.framing === 'http') {
    const body = Buffer.alloc(size, 0x61)
    const wire = Buffer.concat([Buffer.from(`POST /probe HTTP/1.1\r\nHost: ${sc.target.label}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`), body])
    return {
      wire,
      judge: (got, closed) => {
        const end = got.indexOf('\r\n\r\n')
        if (end < 0) return closed ? `answered wrongly: not an HTTP response (${shown(got)})` : 'more'
        const head = got.toString('latin1', 0, end)
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)
        if (status === null) return `answered wrongly: not an HTTP response (${shown(got)})`
        if (!status[1]!.startsWith('2')) return `answered wrongly: HTTP ${status[1]} to an echo request`
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
        const received = got.subarray(end + 4)
        if (received.length < (length === null ? body.length : Number(length[1])) && !closed) return 'more'
        return received.equals(body) ? 'ok' : `answered wrongly: the body does not echo the request (${shown(received)})`
      },
    }
  }
  const expect: Expect = w.expect === 'work' ? workExpect(workRoundsOf(w.options)) : w.expect === 'script' ? 'echo' : w.expect
  const factory = new PayloadFactory(w.framing as 'raw' | 'line' | 'length', size, expect)
  const wire = factory.request(0)
  const expected = Buffer.from(factory.expected(wire, 0))
  const wrong = (got: Buffer): string => `answered wrongly: expected the ${w.expect} reply of the ${w.framing}-framed ${w.name} workload (${expected.length} bytes), got ${shown(got)}`
  return {
    wire,
    judge: (got, closed) => {
      const n = Math.min(got.length, expected.length)
      if (!got.subarray(0, n).equals(expected.subarray(0, n))) return wrong(got)
      if (got.length >= expected.length) return 'ok'
      return closed ? `${wrong(got)}, then closed` : 'more'
    },
  }
}

/** payload.ts's preview, with a name for no bytes at all */
const shown = (bytes: Buffer): string => bytes.length === 0 ? 'nothing' : preview(bytes)

function socketProblem (err: NodeJS.ErrnoException, connected: boolean): string {
  switch (err.code) {
    case 'ECONNREFUSED': return 'refused the connection (ECONNREFUSED): is a server listening there?'
    case 'ECONNRESET': case 'EPIPE': return `reset the connection (${err.code})${connected ? ' instead of answering' : ''}`
    case 'EHOSTUNREACH': case 'ENETUNREACH': return `is unreachable (${err.code})`
    case 'ENOTFOUND': case 'EAI_AGAIN': return `has a host name that does not resolve (${err.code})`
    default: return err.code ?? err.message.split('\n')[0]!
  }
}

/**
 * Connects, sends one request of the scenario's workload, and checks the reply. Resolves null when
 * the target answered right, else what went wrong (one line, without the target's name).
 */
export async function probeTarget (sc: ScenarioConfig, host: string, port: number, timeoutMs = PROBE_TIMEOUT_MS): Promise<string | null> {
  // a load script's workload is checked by the load's own connect phase (its first request, greeting
  // included), which says what came back or that nothing did
  if (sc.workload.expect === 'script') return null
  const { wire, judge } = probeExchange(sc)
  return await new Promise<string | null>((resolve) => {
    let got = Buffer.alloc(0)
    let connected = false
    let settled = false
    const socket = connect({ host, port })
    const finish = (verdict: string | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(verdict)
    }
    const timer = setTimeout(() => finish(connected
      ? `did not answer within ${timeoutMs} ms${got.length > 0 ? ` (got ${shown(got)})` : ''}`
      : `did not accept a connection within ${timeoutMs} ms`), timeoutMs)
    socket.setNoDelay(true)
    socket.on('connect', () => { connected = true; socket.write(wire) })
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk])
      const verdict = judge(got, false)
      if (verdict !== 'more') finish(verdict === 'ok' ? null : verdict)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => finish(socketProblem(err, connected)))
    socket.on('close', () => {
      if (got.length === 0) { finish('closed the connection without answering'); return }
      const verdict = judge(got, true)
      finish(verdict === 'ok' ? null : verdict === 'more' ? `answered wrongly: ${shown(got)}, then closed` : verdict)
    })
  })
}

/**
 * Runs one repetition of a scenario against an external target: check, load (+ sampling with a pid).
 * `rate`: a fixed-rate scenario's requests per second. `loadCpus`: CPUs the generator is pinned to
 * (null: not pinned). Never throws.
 */
export async function runExternalRepetition (sc: ScenarioConfig, repetition: number, suite: SuiteConfig, signal?: AbortSignal, rate?: number, loadCpus: number | null = null): Promise<Repetition> {
  const t0 = Date.now()
  // (a function, so TypeScript does not narrow `aborted` across awaits)
  const aborted = (): boolean => signal?.aborted === true
  const ext = sc.target.external
  const who = `target ${sc.target.label}`
  // (no profile: it needs the server's command line, which echoplex does not own here)
  const rep = newRepetition(repetition, t0, { command: [], pid: ext?.pid ?? null, address: sc.target.label })
  const finish = (): Repetition => {
    if (rep.status === 'ok' && rep.problems.length > 0) rep.status = 'failed'
    rep.wallMs = Date.now() - t0
    return rep
  }
  if (ext === undefined) {
    rep.problems.push(`${who}: no address recorded`)
    return finish()
  }
  // as for servers the runner starts: expected digests computed before measuring, and warm-up steps
  // until the rate is steady (before the sampler starts)
  const steady = steadyWarmupOn(sc)
  await primeWorkDigests(sc)
  const problem = await probeTarget(sc, ext.host, ext.port)
  if (aborted()) { rep.status = 'interrupted'; return finish() }
  if (problem !== null) {
    rep.problems.push(`${who} ${problem}`)
    return finish()
  }
  const pid = ext.pid
  let sampler: Sampler | null = null
  const recorder = new WindowRecorder()
  if (pid !== null) rep.idle = await idleSample(pid)
  if (steady) {
    rep.steadyWarmup = await warmUntilSteady(sc, { host: ext.host, port: ext.port }, suite.loadThreads, signal, suite.loadEngine)
    if (aborted()) { rep.status = 'interrupted'; return finish() }
  }
  if (pid !== null) {
    sampler = startSampler(pid, { intervalMs: suite.sampleIntervalMs, pss: true, onSample: recorder.onSample })
  }
  try {
    rep.load = await runScenarioLoad(sc, { host: ext.host, port: ext.port }, suite.loadThreads, signal, suite.loadEngine, rate)
  } catch (e) {
    rep.problems.push(`${who}: load failed: ${((e as Error)?.message ?? String(e)).split('\n')[0]}`)
  }
  if (sampler !== null) rep.tree = await sampler.stop()
  if (rep.load !== null) {
    const from = Date.parse(rep.load.startedAt)
    if (sampler !== null) rep.window = recorder.stats(from, from + rep.load.windowMs)
    // without a pid the timeline holds the load's side only (completions, latency)
    rep.timeline = buildTimeline(rep.load, recorder.records, sc.warmupMs)
    // a closed loop that sped up through the window, or a fixed rate slow at its start, measured a
    // server still warming
    const warming = rate === undefined ? stillWarming(rep.timeline, rep.load) : slowStart(rep.timeline, rep.load)
    if (warming !== null) rep.warnings.push(`${who}: ${warming}`)
    // (moved into the timeline)
    delete rep.load.seconds
  }
  if (aborted()) { rep.status = 'interrupted'; return finish() }
  if (pid !== null && !existsSync(`/proc/${pid}`)) {
    rep.server.died = true
    rep.problems.push(`${who}: process ${pid} exited during the run`)
  }
  const before = rep.problems.length
  judgeLoad(sc, rep, loadCpus)
  // say which target each load problem belongs to (a run may load several)
  for (let i = before; i < rep.problems.length; i++) rep.problems[i] = `${who}: ${rep.problems[i]}`
  return finish()
}
