/**
 * Server efficiency: requests served per second of server CPU (the whole tree: every process and
 * thread). Beside req/s it tells a server that is fast because it is cheap from one that is fast
 * because it burns every core — and when the load generator saturated, req/s measures the generator
 * rather than the server, while requests per CPU-second still measures the server: the verdicts then
 * rank by it.
 */
import type { Spread } from '@echoplex/results'
import { formatRate } from './format.js'
import type { ReportGroup, TargetRow } from './model.js'

export const EFFICIENCY_HEAD = 'req per server CPU-s'

/** Median requests per server CPU-second, or null. */
export function efficiency (r: TargetRow): number | null {
  const v = r.requestsPerCpuSec?.median
  return v === undefined || !Number.isFinite(v) || v <= 0 ? null : v
}

/** `28,113` or `-`. */
export function efficiencyCell (r: TargetRow): string {
  return formatRate(efficiency(r))
}

/** The load generator saturated while measuring some model of the group that ran ok: its req/s are lower bounds. */
export function generatorBound (g: ReportGroup): boolean {
  return g.rows.some((r) => r.kind === 'model' && r.status === 'ok' && r.generatorSaturated)
}

/** What a throughput verdict ranks a group by: req/s, or requests per server CPU-second when the generator was the ceiling. */
export function rankingMetric (g: ReportGroup): { name: 'req/s' | 'req per server CPU-s', spread: (r: TargetRow) => Spread | null } {
  return generatorBound(g)
    ? { name: 'req per server CPU-s', spread: (r) => r.requestsPerCpuSec }
    : { name: 'req/s', spread: (r) => r.throughput }
}
