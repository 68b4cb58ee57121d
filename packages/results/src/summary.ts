/**
 * Per-scenario figures derived from repetitions: medians and spread, the scenario's status, and its
 * ratio to the fastest peer of its group.
 */
import type { ScenarioConfig } from './config.js'
import type { Repetition, ScenarioMetrics, ScenarioResult, ScenarioStatus } from './results.js'
import { spread, type Spread } from './stats.js'

/** Medians and spread of one scenario's repetitions: those that measured a load and were not interrupted (failed ones count: a failure is shown, not hidden). */
export function summarizeRepetitions (reps: readonly Repetition[]): ScenarioMetrics | null {
  const m = reps.filter((r) => r.load !== null && r.status !== 'interrupted')
  if (m.length === 0) return null
  const of = (f: (r: Repetition) => number | null | undefined): Spread | null => spread(m.map(f))
  return {
    requestsPerSec: of((r) => r.load?.throughput.requestsPerSec),
    latencyMeanMs: of((r) => r.load?.latency.mean),
    latencyP50Ms: of((r) => r.load?.latency.p50),
    latencyP90Ms: of((r) => r.load?.latency.p90),
    latencyP99Ms: of((r) => r.load?.latency.p99),
    latencyP999Ms: of((r) => r.load?.latency.p999),
    serverCpuSec: of((r) => r.window?.cpuSec),
    serverCpuPercent: of((r) => r.window?.cpuPercent),
    requestsPerCpuSec: of((r) => r.derived?.requestsPerCpuSec),
    rssBytes: of((r) => r.window?.rssBytes.mean),
    pssBytes: of((r) => r.window?.pssBytes?.mean),
    rssPerConnectionBytes: of((r) => r.derived?.rssPerConnectionBytes),
    pssPerConnectionBytes: of((r) => r.derived?.pssPerConnectionBytes),
    processes: of((r) => r.window?.processes.max),
    threads: of((r) => r.window?.threads.max),
    connectP50Ms: of((r) => r.derived?.connectToFirstByteMs?.p50),
    connectP99Ms: of((r) => r.derived?.connectToFirstByteMs?.p99),
    generatorCpuPercent: of((r) => r.derived?.generatorCpuPercent),
    mismatches: of((r) => r.load?.mismatches),
    errors: of((r) => r.load?.errors.total),
  }
}

/** A scenario's status from its repetitions. */
export function scenarioStatus (reps: readonly Repetition[], planned: number): { status: ScenarioStatus, reason: string | null } {
  if (reps.length === 0) return { status: 'not-run', reason: null }
  const failed = reps.find((r) => r.status === 'failed')
  if (failed !== undefined) {
    const n = reps.filter((r) => r.status === 'failed').length
    return { status: 'failed', reason: `${n}/${reps.length} repetition(s) failed: ${failed.problems.join('; ')}` }
  }
  if (reps.some((r) => r.status === 'interrupted') || reps.length < planned) {
    return { status: 'interrupted', reason: `${reps.filter((r) => r.status === 'ok').length} of ${planned} repetition(s) completed before the run was interrupted` }
  }
  return { status: 'ok', reason: null }
}

/** Sets each scenario's comparison to the fastest ok peer of its group (by median req/s). */
export function comparePeers (scenarios: ScenarioResult[]): void {
  const best = new Map<string, ScenarioResult>()
  for (const s of scenarios) {
    if (s.target.kind !== 'peer' || s.status !== 'ok') continue
    const v = s.summary?.requestsPerSec?.median ?? 0
    const cur = best.get(s.group)
    if (v > 0 && (cur === undefined || v > (cur.summary?.requestsPerSec?.median ?? 0))) best.set(s.group, s)
  }
  for (const s of scenarios) {
    // at a fixed rate every target that keeps up serves the same req/s: no ratio to take
    if (s.fixedRate != null) { s.comparison = null; continue }
    const b = best.get(s.group)
    const v = s.summary?.requestsPerSec?.median
    const pv = b?.summary?.requestsPerSec?.median
    s.comparison = b === undefined || v === undefined || pv === undefined || pv <= 0
      ? null
      : { peer: b.target.label, peerScenario: b.id, peerRequestsPerSec: pv, ratio: Math.round(v / pv * 10000) / 10000 }
  }
}

/** An empty scenario result for a scenario config. */
export function scenarioResult (c: ScenarioConfig): ScenarioResult {
  return {
    id: c.id,
    group: c.group,
    workload: c.workload,
    target: c.target,
    payloadBytes: c.payloadBytes,
    connections: c.connections,
    mode: c.mode,
    pipeline: c.pipeline,
    durationMs: c.durationMs,
    warmupMs: c.warmupMs,
    loadTool: c.loadTool,
    fixedRate: c.fixedRate ?? null,
    rate: null,
    status: 'not-run',
    reason: null,
    repetitions: [],
    summary: null,
    comparison: null,
  }
}
