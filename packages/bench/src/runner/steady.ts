/**
 * Warm-up until steady: some servers take far longer than a fixed warm-up to reach their working
 * speed — a prefork child's JIT is its own, so each of 30 children warms separately, over tens of
 * seconds of load. Measuring them after 500 ms measures their cold code. Before the measurement the
 * server is loaded with the scenario's own load in steps; the warm-up ends when the last few steps
 * agree and are no higher than the few before them, or when the time allowed runs out (recorded: the
 * result says it never settled).
 */
import type { LoadSummary, ScenarioConfig, SteadyWarmup } from '@echoplex/results'
import type { EngineChoice } from '../load/native.js'
import { digestCostMs, primeWorkCache, runScenarioLoad, workDigestsNeeded, workRoundsOf, type LoadTargetAddress } from './load.js'

/** Length of one step's measured load. */
export const STEP_MS = 1000

/** Whether the scenario warms up in steps until steady before it is measured (`--steady-warmup`). */
export function steadyWarmupOn (sc: ScenarioConfig): boolean {
  return (sc.workload.steadyWarmupMs ?? 0) > 0
}

/** What one digest of each `work` rounds costs here (ms), measured once per process. */
const digestMs = new Map<number, number>()

/**
 * A `work` scenario over raw TCP: the expected digests of what its load sends, computed before it is
 * measured (not while it is). Each warm-up step starts its sequence again, so with a steady warm-up
 * the digests of the longer of a step and the run.
 */
export async function primeWorkDigests (sc: ScenarioConfig): Promise<void> {
  if (sc.workload.expect !== 'work' || sc.loadTool !== 'tcp') return
  const rounds = workRoundsOf(sc.workload.options)
  let ms = digestMs.get(rounds)
  if (ms === undefined) digestMs.set(rounds, ms = digestCostMs(rounds))
  const loaded = steadyWarmupOn(sc) ? { ...sc, durationMs: Math.max(sc.durationMs, STEP_MS) } : sc
  await primeWorkCache(sc.workload.framing as 'line' | 'length', sc.payloadBytes, rounds, workDigestsNeeded(loaded, ms))
}
/** Steps compared: the last this many, and as many before them. */
export const STEADY_STEPS = 3
/** ...the last ones agree when their spread (max − min) is at most this share of their mean... */
export const STEADY_SPREAD = 0.1
/**
 * ...and the rate has stopped rising: their mean is at most this much above the mean of the steps
 * before them. Agreement alone stopped fork-reuse on a plateau (1,504, 1,483, 1,572 req/s) of a
 * rise that went on to ~2,000 over the next 8 s.
 */
export const STEADY_RISE = 0.05

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

/** Whether the last STEADY_STEPS rates agree and no longer rise (a rate of 0 never does: nothing was served). */
export function isSteady (steps: readonly number[]): boolean {
  if (steps.length < 2 * STEADY_STEPS) return false
  const last = steps.slice(-STEADY_STEPS)
  const before = steps.slice(-2 * STEADY_STEPS, -STEADY_STEPS)
  const now = mean(last)
  return now > 0 && Math.max(...last) - Math.min(...last) <= STEADY_SPREAD * now && now <= (1 + STEADY_RISE) * mean(before)
}

/**
 * Loads the server at `address` in STEP_MS steps of the scenario's load until the rate is steady or
 * `sc.workload.steadyWarmupMs` is spent. Stops early, unsettled, when a step fails (the measurement
 * that follows finds and records the problem) or `signal` aborts.
 */
export async function warmUntilSteady (sc: ScenarioConfig, address: LoadTargetAddress, loadThreads: number, signal?: AbortSignal, engine: EngineChoice = 'auto'): Promise<SteadyWarmup> {
  const maxMs = sc.workload.steadyWarmupMs ?? 0
  const step: ScenarioConfig = { ...sc, warmupMs: 0, durationMs: STEP_MS }
  const steps: number[] = []
  const t0 = Date.now()
  while (Date.now() - t0 + STEP_MS <= maxMs && signal?.aborted !== true) {
    let load: LoadSummary | null
    try {
      load = await runScenarioLoad(step, address, loadThreads, signal, engine)
    } catch {
      break
    }
    if (load === null || load.aborted !== null || load.errors.total > 0 || load.mismatches > 0) break
    steps.push(Math.round(load.throughput.requestsPerSec))
    if (isSteady(steps)) break
  }
  return { steps, steady: isSteady(steps), ms: Date.now() - t0 }
}
