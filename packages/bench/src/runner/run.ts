/**
 * The suite runner. For each scenario and repetition: start the server (its own process group, a
 * clean environment), wait for its `listening` line, take an idle sample of its process tree, load
 * it (warmup, then the measured window) while sampling the tree, stop it gracefully (SIGTERM, then
 * SIGKILL to the group) and record everything. A server that fails to start or dies is recorded as
 * such and the run goes on. Repetitions run in rounds (every scenario once, then again, each round
 * starting one further on: see runOrder) so slow drifts of the machine, and whatever a run leaves
 * behind, spread over all scenarios instead of biasing one.
 *
 * With two or more CPUs the server's tree and the generator run on disjoint CPU sets (pinning.ts);
 * every repetition records a per-second timeline (timeline.ts) and, with `profile`, CPU profiles of
 * the serving processes (profile.ts). Fixed-rate scenarios run after the closed-loop ones, at a rate
 * derived from them (fixed-rate.ts).
 */
import { dirname } from 'node:path'
import { findModel } from '@echoplex/server'
import { peerSpec, PEERS, buildPeers, getPeer } from '../peers.js'
import { startSampler, type Sampler } from '@echoplex/proc'
import { collectEnvironment } from './environment.js'
import { runExternalRepetition } from './external.js'
import { runScenarioLoad } from './load.js'
import { idleSample, judgeLoad, newRepetition } from './measure.js'
import {
  comparePeers, RESULTS_SCHEMA_VERSION, scenarioResult, scenarioStatus, summarizeRepetitions, TOOL_VERSION, writeResults,
  type PeerInfo, type Repetition, type Results, type ScenarioConfig, type ScenarioResult, type SuiteConfig,
} from '@echoplex/results'
import { ECHOPLEX_BIN, LaunchError, spawnServer, type ServerSpec } from './server.js'
import { expandSuite } from './suite.js'
import { WindowRecorder } from './window.js'
import { allowedCpus, findTaskset, formatCpuList, pinLoadGenerator, pinnedServerSpec, pinningCapNote, planPinning, type PinChoice, type PinPlan } from './pinning.js'
import { buildTimeline, slowStart, stillWarming } from './timeline.js'
import { collectProfile, profileDirFor, profiledServerSpec } from './profile.js'
import { deriveRate, runOrder } from './fixed-rate.js'
import { primeWorkDigests, steadyWarmupOn, warmUntilSteady } from './steady.js'

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
  /** CPU pinning: `auto` (default: disjoint sets when there are ≥ 2 CPUs), `none`, or explicit sets */
  pin?: PinChoice
  /**
   * Record CPU profiles of the serving processes (V8 `--cpu-prof` on the server's command line, which
   * every child process and worker thread of a Node server inherits) into this folder: one sub-folder per
   * scenario and repetition. null/absent: no profiles. Profiling slows the server: the numbers of a
   * profiled run are for reading profiles, not for ranking.
   */
  profileDir?: string | null
  /** where the results file goes, to record profile folders relative to it (default: outPath's folder) */
  resultsDir?: string | null
}

/** What runRepetition needs beyond the suite: decided once per run by runSuite. */
interface RunPlan {
  pin: PinPlan | null
  /** fixed-rate scenarios: requests per second, decided after the closed-loop rounds */
  rate?: number
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
    const peer = getPeer(t.name)
    if (peer === undefined) throw new Error(`unknown peer ${t.name}`)
    const spec = peerSpec(peer)
    // a Node peer runs under the target's runtime (and its options), like the models
    return t.runtime !== undefined && spec.command === process.execPath ? { ...spec, command: t.runtime.path, args: [...t.runtime.flags ?? [], ...spec.args] } : spec
  }
  const args = [bin, 'serve', '--model', t.name, '--handler', sc.workload.handler, '--port', '0', '--grace', '3s']
  if (t.workers !== null) args.push('--workers', String(t.workers))
  args.push(...findModel(t.name)?.bench.serveArgs?.(t, sc.connections) ?? [])
  // the suite's own options for this target come last: they win over the model's sizing
  args.push(...t.args ?? [])
  for (const [k, v] of Object.entries(sc.workload.options)) args.push('--option', `${k}=${v}`)
  return { command: t.runtime?.path ?? process.execPath, args: [...t.runtime?.flags ?? [], ...args] }
}

/** Runs one repetition of one scenario: start, idle sample, load + sampling, stop. Never throws. */
export async function runRepetition (sc: ScenarioConfig, repetition: number, suite: SuiteConfig, options: RunOptions = {}, plan: RunPlan = { pin: null }): Promise<Repetition> {
  // a server echoplex did not start: nothing to spawn, pin, profile or stop (runner/external.ts)
  if (sc.target.kind === 'external') return await runExternalRepetition(sc, repetition, suite, options.signal, plan.rate, plan.pin === null ? null : plan.pin.load.length)
  const signal = options.signal
  const t0 = Date.now()
  const profileDir = options.profileDir == null ? null : profileDirFor(options.profileDir, sc, repetition)
  const base = serverSpec(sc, options.echoplexBin)
  const profiled = profileDir === null ? null : profiledServerSpec(base, profileDir)
  const spec = pinnedServerSpec(profiled ?? base, plan.pin)
  const rep = newRepetition(repetition, t0, { command: [spec.command, ...spec.args], pid: null, address: null })
  // a fixed-rate scenario warms up the same way (its steps are closed-loop: a fixed rate is steady by
  // construction), so its latency is that of the warm server whose closed-loop rate set the rate
  const steady = steadyWarmupOn(sc)
  await primeWorkDigests(sc)
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
    const cpus = allowedCpus(server.pid)
    rep.server.cpus = cpus === null ? null : formatCpuList(cpus)
    await sleep(suite.idleSettleMs, signal)
    if (signal?.aborted !== true) rep.idle = await idleSample(server.pid)
    if (signal?.aborted === true) { rep.status = 'interrupted'; return rep }
    if (steady) {
      // before the sampler starts: the tree's figures and timeline are of the measurement only
      rep.steadyWarmup = await warmUntilSteady(sc, { host: server.host, port: server.port }, suite.loadThreads, signal, suite.loadEngine)
      if (isAborted(signal)) { rep.status = 'interrupted'; return rep }
    }
    // the tree is sampled over the whole load call; the measured window is cut out of it afterwards
    const recorder = new WindowRecorder()
    sampler = startSampler(server.pid, { intervalMs: suite.sampleIntervalMs, pss: true, onSample: recorder.onSample })
    const onAbort = (): void => server.kill()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      rep.load = await runScenarioLoad(sc, { host: server.host, port: server.port }, suite.loadThreads, signal, suite.loadEngine, plan.rate)
    } catch (e) {
      rep.problems.push(`load failed: ${message(e)}`)
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    rep.tree = await sampler.stop()
    if (rep.load !== null) {
      const from = Date.parse(rep.load.startedAt)
      rep.window = recorder.stats(from, from + rep.load.windowMs)
      rep.timeline = buildTimeline(rep.load, recorder.records, sc.warmupMs)
      // a closed loop that sped up through the window, or a fixed rate slow at its start, measured a
      // server still warming
      const warming = plan.rate === undefined ? stillWarming(rep.timeline, rep.load) : slowStart(rep.timeline, rep.load)
      if (warming !== null) rep.warnings.push(warming)
      // (moved into the timeline)
      delete rep.load.seconds
    }
    if (isAborted(signal)) { rep.status = 'interrupted'; return rep }
    if (server.died) {
      const st = server.exit
      const why = server.lastError()
      rep.server.died = true
      rep.problems.push(`server exited during the run (${st?.code ?? st?.signal})${why === '' ? '' : `: ${why}`}`)
    }
    judgeLoad(sc, rep, plan.pin === null ? null : plan.pin.load.length)
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
    if (profileDir !== null) {
      const resultsDir = options.resultsDir ?? (options.outPath == null ? null : dirname(options.outPath))
      rep.profile = profiled === null
        ? { dir: '', files: [], flame: null, note: 'not a Node process: no V8 CPU profile (use perf for native servers)' }
        : collectProfile(profileDir, resultsDir, rep.server.pid)
    }
    if (stop.leftover.length > 0) rep.warnings.push(`${stop.leftover.length} process(es) of its group outlived it (killed): ${stop.leftover.join(', ')}`)
    if (rep.status === 'ok' && rep.problems.length > 0) rep.status = 'failed'
    rep.wallMs = Date.now() - t0
  }
}

function peerInfo (suite: SuiteConfig): PeerInfo[] {
  return suite.peers.map((name) => {
    const p = getPeer(name)!
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
  if (options.buildPeers !== false && suite.peers.some((n) => getPeer(n)?.needsBuild === true)) {
    for (const b of await buildPeers()) {
      if (!b.ok) {
        notes.push(`peer ${b.name}: ${b.note ?? 'not built'}`)
        emit({ type: 'note', message: `peer ${b.name}: ${b.note ?? 'not built'}` })
      }
    }
  }
  const configs = expandSuite(suite)
  // only external targets (`bench --target`): no server starts here, so nothing to keep apart from
  // the generator unless CPUs were asked for
  const pinning = options.pin === undefined && configs.length > 0 && configs.every((sc) => sc.target.kind === 'external')
    ? { plan: null, record: { mode: 'off' as const, serverCpus: null, loadCpus: null, method: null, note: 'only external targets (--target): no server starts here, the load generator keeps every CPU' } }
    : planPinning(options.pin ?? 'auto', allowedCpus('self'), findTaskset())
  const environment = { ...collectEnvironment(), pinning: pinning.record }
  if (pinning.record.note !== null && pinning.record.mode === 'unavailable') emit({ type: 'note', message: `CPU pinning: ${pinning.record.note}` })
  const capped = pinningCapNote(pinning.plan, configs.filter((sc) => sc.target.kind === 'model').map((sc) => sc.target))
  if (capped !== null) {
    const note = `CPU pinning: ${capped}`
    notes.push(note)
    emit({ type: 'note', message: note })
  }
  const peers = peerInfo(suite)
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
  const runs = runOrder(runnable, suite.repetitions)
  for (const w of suite.workloads) {
    if (w.fixedRate !== null && w.framing === 'http') notes.push(`workload ${w.name}: no fixed-rate scenario (autocannon's rate limit is not corrected for coordinated omission)`)
  }

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
  let restore = (): void => {}
  try {
    restore = pinLoadGenerator(pinning.plan)
  } catch (e) {
    // pinning failed (e.g. a container forbids it): run unpinned and say so
    pinning.plan = null
    environment.pinning = { mode: 'unavailable', serverCpus: null, loadCpus: null, method: null, note: message(e) }
    emit({ type: 'note', message: `CPU pinning: ${message(e)}` })
  }
  try {
    for (const { sc, repetition, round } of runs) {
      if (signal?.aborted === true) break
      const s = byId.get(sc.id)!
      let rate: number | undefined
      if (sc.fixedRate != null) {
        if (s.rate == null && s.status !== 'skipped') {
          s.rate = deriveRate(sc.fixedRate, scenarios)
          if (s.rate === null) {
            s.status = 'skipped'
            s.reason = `no target of ${sc.fixedRate.of} ran ok: no rate to run at`
            emit({ type: 'skip', scenario: sc, reason: s.reason })
          }
        }
        if (s.status === 'skipped') { done++; continue }
        rate = s.rate!.requestsPerSec
      }
      emit({ type: 'run-start', index: done, runs: runs.length, scenario: sc, repetition, etaMs: eta(done) })
      const rep = await runRepetition(sc, repetition, suite, options, { pin: pinning.plan, ...(rate === undefined ? {} : { rate }) })
      rep.round = round
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
  } finally {
    restore()
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
export const PEER_NAMES = PEERS.map((b) => b.name)
