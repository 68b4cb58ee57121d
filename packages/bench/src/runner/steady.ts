/**
 * Warm-up until steady: some servers take far longer than a fixed warm-up to reach their working
 * speed — a prefork child's JIT is its own, so each of 30 children warms separately, over tens of
 * seconds of load. Measuring them after 500 ms measures their cold code. Before the measurement the
 * server is loaded with the scenario's own load in steps; the warm-up ends when the last few steps
 * agree, or when the time allowed runs out (recorded: the result says it never settled).
 */
import type { LoadSummary, ScenarioConfig, SteadyWarmup } from '@echoplex/results'
import type { EngineChoice } from '../load/native.js'
import { runScenarioLoad, type LoadTargetAddress } from './load.js'

/** Length of one step's measured load. */
export const STEP_MS = 1000
/** Steps compared: the last this many. */
export const STEADY_STEPS = 3
/** ...agree when their spread (max − min) is at most this share of their mean. */
export const STEADY_SPREAD = 0.1

/** Whether the last STEADY_STEPS rates agree (a rate of 0 never does: nothing was served). */
export function isSteady (steps: readonly number[]): boolean {
  if (steps.length < STEADY_STEPS) return false
  const last = steps.slice(-STEADY_STEPS)
  const mean = last.reduce((a, b) => a + b, 0) / last.length
  return mean > 0 && Math.max(...last) - Math.min(...last) <= STEADY_SPREAD * mean
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
