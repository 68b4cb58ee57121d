/**
 * The suite runner. For each scenario and repetition: start the server (its own process group, a
 * clean environment), wait for its `listening` line, take an idle sample of its process tree, load
 * it (warmup, then the measured window) while sampling the tree, stop it gracefully (SIGTERM, then
 * SIGKILL to the group) and record everything. A server that fails to start or dies is recorded as
 * such and the run goes on. Repetitions are interleaved (every scenario once, then again) so slow
 * drifts of the machine spread over all scenarios instead of biasing one.
 */
import { availableParallelism } from 'node:os'
import { baselineSpec, baselines, buildBaselines, getBaseline } from '../baselines.js'
import { startSampler, type Sampler } from '../proc/sampler.js'
import { collectEnvironment } from './environment.js'
import { runExternalRepetition } from './external.js'
import { digestCostMs, primeWorkCache, runScenarioLoad, workDigestsNeeded, workRoundsOf } from './load.js'
import { idleSample, judgeLoad } from './measure.js'
import {
  comparePeers, RESULTS_SCHEMA_VERSION, scenarioResult, scenarioStatus, summarizeRepetitions, writeResults,
  type PeerInfo, type Repetition, type Results, type ScenarioResult,
} from './results.js'
import { ECHOPLEX_BIN, LaunchError, spawnServer, type ServerSpec } from './server.js'
import { expandSuite, type ScenarioConfig, type SuiteConfig } from './suite.js'
import { TOOL_VERSION } from './version.js'
import { WindowRecorder } from './window.js'

export type ProgressEvent =
  | { type: 'start', runs: number, scenarios: number, etaMs: number }
  | { type: 'note', message: string }
  | { type: 'skip', scenario: ScenarioConfig, reason: string }
  | { type: 'run-start', index: number, runs: number, scenario: ScenarioConfig, repetition: number, etaMs: number }
  | { type: 'run-end', index: number, runs: number, scenario: ScenarioConfig, repetition: number, result: Repetition, etaMs: number }
  | { type: 'end', results: Results }

export interface RunOptions {
  /** aborting stops the running server and load; the results are then partial (complete: false) */
  signal?: AbortSignal
  onProgress?: (event: ProgressEvent) => void
  /** where results are written (progressively, at most every `writeEveryMs`, and at the end); null: not written */
  outPath?: string | null
  writeEveryMs?: number
  /** compile the peers that need it (C) first; default true */
  buildPeers?: boolean
  /** the echoplex launcher; default packages/cli/bin/echoplex.js */
  echoplexBin?: string
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal?.aborted === true) { resolve(); return }
  const timer = setTimeout(done, ms)
  function done (): void { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve() }
  signal?.addEventListener('abort', done, { once: true })
})

/** (a function, so TypeScript does not narrow `aborted` across awaits) */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

const message = (e: unknown): string => ((e as Error)?.message ?? String(e)).split('\n')[0]!

/** The command line that serves a scenario's target. */
export function serverSpec (sc: ScenarioConfig, bin = ECHOPLEX_BIN): ServerSpec {
  const t = sc.target
  if (t.kind === 'peer') {
    const peer = getBaseline(t.name)
    if (peer === undefined) throw new Error(`unknown peer ${t.name}`)
    return baselineSpec(peer)
  }
  const args = [bin, 'serve', '--model', t.name, '--handler', sc.workload.handler, '--port', '0', '--grace', '3s']
  if (t.workers !== null) args.push('--workers', String(t.workers))
  if (t.name === 'fork') {
    const spares = t.spares ?? 0
    args.push('--spares', String(spares), '--max-children', String(Math.max(64, sc.connections * 2 + spares)))
  }
  for (const [k, v] of Object.entries(sc.workload.options)) args.push('--option', `${k}=${v}`)
  return { command: process.execPath, args }
}

const digestMs = new Map<number, number>()

/** Runs one repetition of one scenario: start, idle sample, load + sampling, stop. Never throws. */
export async function runRepetition (sc: ScenarioConfig, repetition: number, suite: SuiteConfig, options: RunOptions = {}): Promise<Repetition> {
  // a server echoplex did not start: nothing to spawn or stop (runner/external.ts)
  if (sc.target.kind === 'external') return await runExternalRepetition(sc, repetition, suite, options.signal)
  const signal = options.signal
  const t0 = Date.now()
  const spec = serverSpec(sc, options.echoplexBin)
  const rep: Repetition = {
    repetition,
    status: 'ok',
    problems: [],
    warnings: [],
    startedAt: new Date(t0).toISOString(),
    wallMs: 0,
    server: { command: [spec.command, ...spec.args], pid: null, pgid: null, address: null, startMs: null, died: false, stop: null, stderrTail: '' },
    idle: null,
    load: null,
    tree: null,
    window: null,
    derived: null,
  }
  if (sc.workload.expect === 'work' && sc.loadTool === 'tcp') {
    // the expected digests, computed before the server starts (not while it is measured)
    const rounds = workRoundsOf(sc.workload.options)
    let ms = digestMs.get(rounds)
    if (ms === undefined) digestMs.set(rounds, ms = digestCostMs(rounds))
    await primeWorkCache(sc.workload.framing as 'line' | 'length', sc.payloadBytes, rounds, workDigestsNeeded(sc, ms))
  }
  const server = spawnServer(spec, sc.target.label)
  rep.server.pgid = server.pgid || null
  let sampler: Sampler | null = null
  try {
    try {
      await server.ready(suite.startTimeoutMs, signal)
    } catch (e) {
      if (signal?.aborted === true) rep.status = 'interrupted'
      else rep.problems.push(`server failed to start: ${e instanceof LaunchError ? e.message : message(e)}`)
      return rep
    }
    rep.server.pid = server.pid
    rep.server.address = server.address
    rep.server.startMs = server.startMs
    await sleep(suite.idleSettleMs, signal)
    if (signal?.aborted !== true) rep.idle = await idleSample(server.pid)
    if (signal?.aborted === true) { rep.status = 'interrupted'; return rep }
    // the tree is sampled over the whole load call; the measured window is cut out of it afterwards
    const recorder = new WindowRecorder()
    sampler = startSampler(server.pid, { intervalMs: suite.sampleIntervalMs, pss: true, onSample: recorder.onSample })
    const onAbort = (): void => server.kill()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      rep.load = await runScenarioLoad(sc, { host: server.host, port: server.port }, suite.loadThreads, signal)
    } catch (e) {
      rep.problems.push(`load failed: ${message(e)}`)
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    rep.tree = await sampler.stop()
    if (rep.load !== null) {
      const from = Date.parse(rep.load.startedAt)
      rep.window = recorder.stats(from, from + rep.load.windowMs)
    }
    if (isAborted(signal)) { rep.status = 'interrupted'; return rep }
    if (server.died) {
      const st = server.exit
      const why = server.lastError()
      rep.server.died = true
      rep.problems.push(`server exited during the run (${st?.code ?? st?.signal})${why === '' ? '' : `: ${why}`}`)
    }
    judgeLoad(sc, rep)
    return rep
  } finally {
    if (sampler !== null && rep.tree === null) await (sampler as Sampler).stop().catch(() => null)
    const stop = await server.stop(rep.status === 'interrupted' ? 1000 : suite.stopTimeoutMs)
    rep.server.stop = stop
    rep.server.stderrTail = server.stderr().slice(-4096)
    if (rep.status === 'ok' && rep.server.pid !== null && !rep.server.died) {
      if (stop.killed) rep.warnings.push(`did not exit within ${suite.stopTimeoutMs} ms of SIGTERM: killed`)
      else if (stop.code !== 0) rep.warnings.push(`exit status ${stop.code ?? stop.signal} after SIGTERM`)
    }
    if (stop.leftover.length > 0) rep.warnings.push(`${stop.leftover.length} process(es) of its group outlived it (killed): ${stop.leftover.join(', ')}`)
    if (rep.status === 'ok' && rep.problems.length > 0) rep.status = 'failed'
    rep.wallMs = Date.now() - t0
  }
}

function peerInfo (suite: SuiteConfig): PeerInfo[] {
  return suite.peers.map((name) => {
    const p = getBaseline(name)!
    const a = p.available()
    return { name, framing: p.framing, available: a.ok, note: a.ok ? null : a.note }
  })
}

/** Runs a whole suite. Resolves with the results (also written to `outPath` when given); never rejects for a scenario's failure. */
export async function runSuite (suite: SuiteConfig, options: RunOptions = {}): Promise<Results> {
  const signal = options.signal
  const emit = (e: ProgressEvent): void => { try { options.onProgress?.(e) } catch { /* a broken listener must not break the run */ } }
  const started = new Date()
  const notes: string[] = []
  if (options.buildPeers !== false && suite.peers.some((n) => getBaseline(n)?.needsBuild === true)) {
    for (const b of await buildBaselines()) {
      if (!b.ok) {
        notes.push(`peer ${b.name}: ${b.note ?? 'not built'}`)
        emit({ type: 'note', message: `peer ${b.name}: ${b.note ?? 'not built'}` })
      }
    }
  }
  const environment = collectEnvironment()
  const peers = peerInfo(suite)
  const configs = expandSuite(suite)
  const scenarios: ScenarioResult[] = configs.map(scenarioResult)
  const byId = new Map(scenarios.map((s) => [s.id, s]))
  const runnable: ScenarioConfig[] = []
  for (const sc of configs) {
    const peer = sc.target.kind === 'peer' ? peers.find((p) => p.name === sc.target.name) : undefined
    if (peer !== undefined && !peer.available) {
      const s = byId.get(sc.id)!
      s.status = 'skipped'
      s.reason = peer.note ?? 'unavailable'
      emit({ type: 'skip', scenario: sc, reason: s.reason })
    } else {
      runnable.push(sc)
    }
  }
  const runs: Array<{ sc: ScenarioConfig, repetition: number }> = []
  for (let r = 1; r <= suite.repetitions; r++) for (const sc of runnable) runs.push({ sc, repetition: r })

  // ETA: warmup + duration + a per-run overhead learned as we go
  let overheadMs = 1500
  let overheadRuns = 0
  const eta = (from: number): number => runs.slice(from).reduce((n, { sc }) => n + sc.warmupMs + sc.durationMs + overheadMs, 0)

  const build = (finished: Date, complete: boolean): Results => {
    for (const s of scenarios) {
      if (s.status === 'skipped') continue
      const planned = suite.repetitions
      const st = scenarioStatus(s.repetitions, planned)
      s.status = st.status
      s.reason = st.reason
      s.summary = summarizeRepetitions(s.repetitions)
    }
    comparePeers(scenarios)
    return {
      schemaVersion: RESULTS_SCHEMA_VERSION,
      tool: { name: 'echoplex', version: TOOL_VERSION },
      suite,
      environment,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      complete,
      interrupted: complete ? null : interruptReason(signal),
      peers,
      notes,
      scenarios,
    }
  }
  const outPath = options.outPath ?? null
  const writeEveryMs = options.writeEveryMs ?? 5000
  let lastWrite = Date.now()

  emit({ type: 'start', runs: runs.length, scenarios: scenarios.length, etaMs: eta(0) })
  let done = 0
  for (const { sc, repetition } of runs) {
    if (signal?.aborted === true) break
    emit({ type: 'run-start', index: done, runs: runs.length, scenario: sc, repetition, etaMs: eta(done) })
    const rep = await runRepetition(sc, repetition, suite, options)
    const s = byId.get(sc.id)!
    s.repetitions.push(rep)
    if (rep.status === 'interrupted') break
    done++
    overheadMs = (overheadMs * overheadRuns + Math.max(0, rep.wallMs - sc.warmupMs - sc.durationMs)) / (overheadRuns + 1)
    overheadRuns++
    emit({ type: 'run-end', index: done - 1, runs: runs.length, scenario: sc, repetition, result: rep, etaMs: eta(done) })
    if (outPath !== null && Date.now() - lastWrite >= writeEveryMs) {
      writeResults(outPath, build(new Date(), false))
      lastWrite = Date.now()
    }
  }
  const results = build(new Date(), done === runs.length && signal?.aborted !== true)
  if (outPath !== null) writeResults(outPath, results)
  emit({ type: 'end', results })
  return results
}

function interruptReason (signal: AbortSignal | undefined): string {
  if (signal?.aborted !== true) return 'stopped before the end'
  const r: unknown = signal.reason
  if (typeof r === 'string') return r
  if (r instanceof Error && r.name !== 'AbortError') return r.message
  return 'interrupted'
}

/** Peers known to the runner (for help texts). */
export const PEER_NAMES = baselines.map((b) => b.name)
/** Default worker count for cluster and pool. */
export const DEFAULT_WORKERS = availableParallelism()
