/**
 * Fixed-rate (open-loop) scenarios: p99 compared at equal load. A closed loop measures each target
 * at its own saturation, so its latencies are taken at different loads; here every target gets the
 * same request rate, one every target sustains: `fraction` of the slowest model's median req/s in
 * the matching closed-loop group, which runs first. Latency runs from each request's intended send
 * time, so a stalled server is charged for the requests it held up (coordinated omission corrected).
 */
import { spread, type FixedRate, type ScenarioConfig, type ScenarioResult } from '@echoplex/results'

/** Default share of the slowest model's closed-loop throughput. */
export const DEFAULT_FIXED_RATE_FRACTION = 0.5

/** The rate of a fixed-rate scenario from the closed-loop results of its group; null when no target there ran ok. */
export function deriveRate (fixed: FixedRate, scenarios: readonly ScenarioResult[]): { requestsPerSec: number, basis: string } | null {
  const inGroup = scenarios.filter((s) => s.group === fixed.of && s.fixedRate == null)
  const measured = (kind: ScenarioResult['target']['kind']): Array<{ label: string, rps: number }> => inGroup
    .filter((s) => s.target.kind === kind && s.repetitions.length > 0 && s.repetitions.every((r) => r.status === 'ok'))
    .map((s) => ({ label: s.target.label, rps: spread(s.repetitions.map((r) => r.load?.throughput.requestsPerSec))?.median ?? 0 }))
    .filter((x) => x.rps > 0)
  // the models decide; external targets (`bench --target`, usually run without models) when no
  // model ran ok; peers only when neither did
  const kind = (['model', 'external', 'peer'] as const).find((k) => measured(k).length > 0)
  if (kind === undefined) return null
  const slowest = measured(kind).reduce((a, b) => b.rps < a.rps ? b : a)
  const rate = Math.max(1, Math.round(slowest.rps * fixed.fraction))
  return { requestsPerSec: rate, basis: `${Math.round(fixed.fraction * 100)} % of the slowest ${kind === 'external' ? 'external target' : kind}'s closed-loop median (${slowest.label}: ${Math.round(slowest.rps)} req/s in ${fixed.of})` }
}

/** One run of the order: a scenario, its repetition number, and the round it belongs to. */
export interface PlannedRun { sc: ScenarioConfig, repetition: number, round: number }

/**
 * The order runs go in: rounds across scenarios, so that drifts of the machine hit every scenario
 * alike, each round starting one scenario further on (A B C, B C A, C A B …), so that no scenario
 * always runs first, or always right after the same one: whatever a run leaves behind (a warm or a
 * cold cache, sockets in TIME_WAIT, a CPU still clocked up) and a drift within a round fall on every
 * scenario in turn. The closed-loop rounds go first, then the fixed-rate rounds (their rate derives
 * from the closed-loop results).
 */
export function runOrder (scenarios: readonly ScenarioConfig[], repetitions: number): PlannedRun[] {
  const out: PlannedRun[] = []
  const closed = scenarios.filter((s) => s.fixedRate == null)
  const fixed = scenarios.filter((s) => s.fixedRate != null)
  let round = 0
  for (const set of [closed, fixed]) {
    if (set.length === 0) continue
    for (let r = 1; r <= repetitions; r++) {
      round++
      const first = (r - 1) % set.length
      for (let i = 0; i < set.length; i++) out.push({ sc: set[(first + i) % set.length]!, repetition: r, round })
    }
  }
  return out
}
