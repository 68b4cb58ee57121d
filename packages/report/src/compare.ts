/**
 * compare BASE HEAD: scenarios matched by id (`workload:target:payloadB:cN:mode`), the two medians,
 * their ratio, and whether the difference exceeds the noise across repetitions (stats.ts states the
 * test). Throughput decides improvements and regressions; p99 latency is compared with the same test
 * and shown beside it. Scenarios present on one side only are listed, never dropped.
 */
import type { Results, ScenarioResult, ScenarioStatus, Spread } from '@echoplex/results'
import { runtimeText } from '@echoplex/results'
import { formatMs, formatPct, formatRate, formatRatio, kindNote } from './format.js'
import { groupLabel, runInfo, type RunInfo } from './model.js'
import { DEFAULT_ALPHA, DEFAULT_MIN_EFFECT, DEFAULT_NOISE_FACTOR, MIN_REPETITIONS, noiseTest, TEST_DESCRIPTION, type NoiseTest, type NoiseTestOptions } from './stats.js'

export interface CompareOptions extends NoiseTestOptions {
  /** a significant throughput regression larger than this (percent) fails the gate; null/undefined: no gate */
  failOnRegressionPct?: number | null
  basePath?: string | null
  headPath?: string | null
}

export type Direction = 'improvement' | 'regression' | 'none' | 'untested'

export interface MetricChange {
  metric: 'requestsPerSec' | 'latencyP99Ms'
  unit: string
  higherIsBetter: boolean
  base: Spread | null
  head: Spread | null
  /** head median ÷ base median */
  ratio: number | null
  /** ratio ÷ the run-wide drift: the change this scenario shows beyond the whole run's (what is tested) */
  adjustedRatio: number | null
  /** (ratio − 1) × 100 */
  changePct: number | null
  test: NoiseTest | null
  /** significant and better / significant and worse / not significant / not testable */
  direction: Direction
}

export type Change = 'improvement' | 'regression' | 'no significant change' | 'too few repetitions' | 'not comparable' | 'newly failed' | 'fixed'

export const MARKERS: Record<Change, string> = {
  improvement: '▲',
  regression: '▼',
  'no significant change': '=',
  'too few repetitions': '?',
  'not comparable': '·',
  'newly failed': '✗',
  fixed: '✓',
}

export interface ComparedScenario {
  id: string
  group: string
  /** `echo 64B c16 keep-alive` */
  label: string
  target: string
  kind: 'model' | 'peer' | 'external'
  baseStatus: ScenarioStatus
  headStatus: ScenarioStatus
  throughput: MetricChange
  latencyP99: MetricChange
  /** the verdict for this scenario (from throughput and the statuses) */
  change: Change
  marker: string
  /** counts against --fail-on-regression */
  failsGate: boolean
  note: string | null
}

export interface OneSided { id: string, label: string, target: string, status: ScenarioStatus }

export interface Comparison {
  base: RunInfo
  head: RunInfo
  /** the statistical test, in words */
  method: string
  alpha: number
  noiseFactor: number
  minEffect: number
  /** repetitions each side needs for a change to be called significant */
  minRepetitions: number
  /** set when some matched scenario had fewer: "too few repetitions to tell …" */
  tooFew: string | null
  /**
   * The run-wide drift: the median HEAD ÷ BASE ratio over the tested scenarios (≥ 3), per metric; 1
   * when too few. Two runs of one commit on a busy machine differ as a whole; each scenario is tested
   * relative to it, and the drift itself is reported, never flagged.
   */
  drift: { requestsPerSec: number, latencyP99Ms: number, scenarios: number }
  rows: ComparedScenario[]
  onlyInBase: OneSided[]
  onlyInHead: OneSided[]
  counts: Record<Change, number>
  failOnRegressionPct: number | null
  gate: { failed: boolean, reasons: string[] }
  /** environment fields that differ between the runs (numbers from different machines compare poorly) */
  environmentDiffers: Array<{ field: string, base: string, head: string }>
}

/**
 * `drift`: the run-wide HEAD ÷ BASE factor of this metric (see runDrift); HEAD's values are divided by
 * it before testing, so what is tested is how this scenario moved beyond the whole run.
 */
function metric (name: 'requestsPerSec' | 'latencyP99Ms', base: Spread | null, head: Spread | null, options: NoiseTestOptions, comparable: boolean, drift = 1): MetricChange {
  const higherIsBetter = name === 'requestsPerSec'
  const ratio = base !== null && head !== null && base.median !== 0 ? head.median / base.median : null
  const adjustedRatio = ratio === null ? null : ratio / drift
  const test = comparable && base !== null && head !== null ? noiseTest(base.values, head.values.map((v) => v / drift), options) : null
  let direction: Direction = 'untested'
  if (test !== null && test.method !== 'none') {
    direction = !test.significant || adjustedRatio === null || adjustedRatio === 1
      ? 'none'
      : (adjustedRatio > 1) === higherIsBetter ? 'improvement' : 'regression'
  }
  return {
    metric: name,
    unit: name === 'requestsPerSec' ? 'req/s' : 'ms',
    higherIsBetter,
    base,
    head,
    ratio,
    adjustedRatio,
    changePct: ratio === null ? null : (ratio - 1) * 100,
    test,
    direction,
  }
}

/** p99 latency, unless no request completed in any repetition (then the percentiles read 0 and mean nothing). */
function p99 (s: ScenarioResult): Spread | null {
  const m = s.summary
  if (m === null || (m.requestsPerSec !== null && m.requestsPerSec.max === 0)) return null
  return m.latencyP99Ms
}

/** What makes two scenarios with the same id measure different things (handler options, framing, pipeline…). */
function workloadDiff (b: ScenarioResult, h: ScenarioResult): { blocking: string[], informative: string[] } {
  const blocking: string[] = []
  const informative: string[] = []
  const opts = (o: Record<string, string>): string => Object.entries(o).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',') || 'none'
  if (b.workload.handler !== h.workload.handler) blocking.push(`handler ${b.workload.handler} → ${h.workload.handler}`)
  if (b.workload.framing !== h.workload.framing) blocking.push(`framing ${b.workload.framing} → ${h.workload.framing}`)
  if (b.workload.expect !== h.workload.expect) blocking.push(`expect ${b.workload.expect} → ${h.workload.expect}`)
  if (opts(b.workload.options) !== opts(h.workload.options)) blocking.push(`handler options ${opts(b.workload.options)} → ${opts(h.workload.options)}`)
  if (b.pipeline !== h.pipeline) blocking.push(`pipeline ${b.pipeline} → ${h.pipeline}`)
  if (b.loadTool !== h.loadTool) blocking.push(`load tool ${b.loadTool} → ${h.loadTool}`)
  if (b.target.workers !== h.target.workers) blocking.push(`workers ${b.target.workers ?? '-'} → ${h.target.workers ?? '-'}`)
  if (b.target.spares !== h.target.spares) blocking.push(`spares ${b.target.spares ?? '-'} → ${h.target.spares ?? '-'}`)
  // the same model on another Node (bench --node): a comparison worth making, said next to its figures
  const runtimeOf = (s: ScenarioResult): string => s.target.runtime === undefined ? 'the bench\'s Node' : runtimeText(s.target.runtime)
  if (runtimeOf(b) !== runtimeOf(h)) informative.push(`node ${runtimeOf(b)} → ${runtimeOf(h)}`)
  // a fixed-rate scenario's throughput is the rate it was given, derived from its own run's closed-loop
  // results: at different rates, the numbers are not a change of the server
  const rb = b.rate?.requestsPerSec
  const rh = h.rate?.requestsPerSec
  if ((b.fixedRate != null || h.fixedRate != null) && rb !== rh) blocking.push(`fixed rate ${rb === undefined ? '-' : formatRate(rb)} → ${rh === undefined ? '-' : formatRate(rh)} req/s (each run derives its rate from its own closed-loop results)`)
  if (b.durationMs !== h.durationMs) informative.push(`duration ${b.durationMs} → ${h.durationMs} ms`)
  if (b.warmupMs !== h.warmupMs) informative.push(`warmup ${b.warmupMs} → ${h.warmupMs} ms`)
  // a server measured warm against the same measured cold: a difference of method, not of the server
  const steadyOf = (s: ScenarioResult): number => s.workload.steadyWarmupMs ?? 0
  if (steadyOf(b) !== steadyOf(h)) informative.push(`warm-up until steady ${steadyOf(b) === 0 ? 'off' : `≤ ${steadyOf(b)} ms`} → ${steadyOf(h) === 0 ? 'off' : `≤ ${steadyOf(h)} ms`}`)
  return { blocking, informative }
}

function envDiff (a: Results, b: Results): Array<{ field: string, base: string, head: string }> {
  const fields = ['cpuModel', 'cores', 'availableParallelism', 'memoryBytes', 'node', 'kernel', 'os', 'platform', 'arch'] as const
  const out: Array<{ field: string, base: string, head: string }> = []
  for (const f of fields) {
    const x = String(a.environment[f])
    const y = String(b.environment[f])
    if (x !== y) out.push({ field: f, base: x, head: y })
  }
  return out
}

/** Scenarios with at least this many tested pairs give a run-wide drift. */
export const MIN_DRIFT_SCENARIOS = 3

/** The median HEAD ÷ BASE ratio of a metric over scenarios testable on both sides, or 1 with fewer than MIN_DRIFT_SCENARIOS. */
function runDrift (pairs: Array<[Spread | null, Spread | null]>): { factor: number, n: number } {
  const logs = pairs
    .filter(([b, h]) => b !== null && h !== null && b.n >= MIN_REPETITIONS && h.n >= MIN_REPETITIONS && b.median > 0 && h.median > 0)
    .map(([b, h]) => Math.log(h!.median / b!.median))
    .sort((x, y) => x - y)
  if (logs.length < MIN_DRIFT_SCENARIOS) return { factor: 1, n: logs.length }
  const m = logs.length % 2 === 1 ? logs[(logs.length - 1) / 2]! : (logs[logs.length / 2 - 1]! + logs[logs.length / 2]!) / 2
  return { factor: Math.exp(m), n: logs.length }
}

/** Compares two runs scenario by scenario (see the module comment). */
export function compareResults (base: Results, head: Results, options: CompareOptions = {}): Comparison {
  const test: NoiseTestOptions = { alpha: options.alpha ?? DEFAULT_ALPHA, noiseFactor: options.noiseFactor ?? DEFAULT_NOISE_FACTOR, minEffect: options.minEffect ?? DEFAULT_MIN_EFFECT }
  const pct = options.failOnRegressionPct ?? null
  const headById = new Map(head.scenarios.map((s) => [s.id, s]))
  const baseIds = new Set(base.scenarios.map((s) => s.id))
  const rows: ComparedScenario[] = []
  // the run-wide drift, from the scenarios that can be tested on both sides
  const testable = base.scenarios.flatMap((b) => {
    const h = headById.get(b.id)
    return h !== undefined && b.status === 'ok' && h.status === 'ok' && workloadDiff(b, h).blocking.length === 0 ? [[b, h] as const] : []
  })
  const rpsDrift = runDrift(testable.map(([b, h]) => [b.summary?.requestsPerSec ?? null, h.summary?.requestsPerSec ?? null]))
  const latDrift = runDrift(testable.map(([b, h]) => [p99(b), p99(h)]))
  for (const b of base.scenarios) {
    const h = headById.get(b.id)
    if (h === undefined) continue
    const differs = workloadDiff(b, h)
    const comparable = b.status === 'ok' && h.status === 'ok' && differs.blocking.length === 0
    const throughput = metric('requestsPerSec', b.summary?.requestsPerSec ?? null, h.summary?.requestsPerSec ?? null, test, comparable, rpsDrift.factor)
    const latencyP99 = metric('latencyP99Ms', p99(b), p99(h), test, comparable, latDrift.factor)
    let change: Change
    let note: string | null = null
    if (differs.blocking.length > 0) {
      change = 'not comparable'
      note = `different workload: ${differs.blocking.join('; ')}${b.status === h.status ? '' : ` (BASE ${b.status}, HEAD ${h.status})`}`
    } else if (b.status === 'ok' && h.status === 'failed') {
      change = 'newly failed'
      note = h.reason
    } else if (b.status === 'failed' && h.status === 'ok') {
      change = 'fixed'
      note = b.reason === null ? null : `failed in BASE: ${b.reason}`
    } else if (!comparable) {
      change = 'not comparable'
      note = `BASE ${b.status}, HEAD ${h.status}${h.reason !== null ? `: ${h.reason}` : b.reason !== null ? `: ${b.reason}` : ''}`
    } else if (throughput.direction === 'improvement' || throughput.direction === 'regression') {
      change = throughput.direction
    } else if (throughput.direction === 'untested' && throughput.test?.needRepetitions != null) {
      change = 'too few repetitions'
    } else if (throughput.direction === 'untested') {
      change = 'not comparable'
      note = throughput.test?.why ?? 'no throughput measured'
    } else {
      change = 'no significant change'
    }
    if (differs.informative.length > 0) note = `${note === null ? '' : `${note}; `}${differs.informative.join('; ')}`
    const failsGate = pct !== null && (change === 'newly failed' || (change === 'regression' && (throughput.changePct ?? 0) < -pct))
    rows.push({
      id: b.id,
      group: b.group,
      label: groupLabel(b),
      target: b.target.label,
      kind: b.target.kind,
      baseStatus: b.status,
      headStatus: h.status,
      throughput,
      latencyP99,
      change,
      marker: MARKERS[change],
      failsGate,
      note,
    })
  }
  const oneSided = (s: ScenarioResult): OneSided => ({ id: s.id, label: groupLabel(s), target: s.target.label, status: s.status })
  const counts = Object.fromEntries(Object.keys(MARKERS).map((k) => [k, 0])) as Record<Change, number>
  for (const r of rows) counts[r.change]++
  const reasons = rows.filter((r) => r.failsGate).map((r) => r.change === 'newly failed'
    ? `${r.label} @ ${r.target}: ok in BASE, failed in HEAD`
    : `${r.label} @ ${r.target}: ${formatPct(r.throughput.changePct)} req/s (significant; limit -${pct}%)`)
  return {
    base: runInfo(base, 0, options.basePath ?? null),
    head: runInfo(head, 1, options.headPath ?? null),
    method: TEST_DESCRIPTION,
    alpha: test.alpha!,
    noiseFactor: test.noiseFactor!,
    minEffect: test.minEffect!,
    minRepetitions: MIN_REPETITIONS,
    tooFew: tooFewNote(rows),
    drift: { requestsPerSec: rpsDrift.factor, latencyP99Ms: latDrift.factor, scenarios: rpsDrift.n },
    rows,
    onlyInBase: base.scenarios.filter((s) => !headById.has(s.id)).map(oneSided),
    onlyInHead: head.scenarios.filter((s) => !baseIds.has(s.id)).map(oneSided),
    counts,
    failOnRegressionPct: pct,
    gate: { failed: reasons.length > 0, reasons },
    environmentDiffers: envDiff(base, head),
  }
}

/** One line for the comparison when some scenarios had too few repetitions to test. */
function tooFewNote (rows: ComparedScenario[]): string | null {
  const few = rows.filter((r) => r.change === 'too few repetitions')
  if (few.length === 0) return null
  const reps = (side: 'base' | 'head'): number => Math.min(...few.map((r) => r.throughput[side]?.n ?? 0))
  return `too few repetitions to tell for ${few.length} of ${rows.length} scenario(s) (BASE ${reps('base')}, HEAD ${reps('head')} repetition(s)): ` +
    `a change is only called with ≥ ${MIN_REPETITIONS} repetitions on each side — run both with -r ${MIN_REPETITIONS} or more`
}

/** One line on the run-wide drift, when there is one to speak of (≥ 1 % either way), else null. */
export function driftLine (c: Comparison): string | null {
  const d = c.drift
  if (d.scenarios < MIN_DRIFT_SCENARIOS || Math.abs(d.requestsPerSec - 1) < 0.01) return null
  return `run-wide drift: HEAD runs at ${formatRatio(d.requestsPerSec)} BASE's req/s (median over ${d.scenarios} scenarios; p99 ${formatRatio(d.latencyP99Ms)}) — ` +
    'the machine\'s load between the runs, or a change that moved everything alike; each scenario is tested relative to it'
}

/** `14 req/s` or `-` */
const med = (s: Spread | null, f: (v: number) => string): string => s === null ? '-' : f(s.median)

/** One row of the comparison as plain cells (shared by text, Markdown and HTML). */
export function compareCells (r: ComparedScenario): Record<'scenario' | 'target' | 'base' | 'head' | 'ratio' | 'change' | 'test' | 'p99' | 'result', string> {
  const t = r.throughput
  const l = r.latencyP99
  const lmark = l.direction === 'improvement' ? ' ▲' : l.direction === 'regression' ? ' ▼' : ''
  return {
    scenario: r.label,
    target: `${r.target}${kindNote(r.kind)}`,
    base: med(t.base, formatRate),
    head: med(t.head, formatRate),
    ratio: formatRatio(t.ratio),
    change: formatPct(t.changePct),
    test: t.test === null ? '-' : t.test.method === 'none' ? `too few repetitions (${t.base?.n ?? 0} vs ${t.head?.n ?? 0}; need ${MIN_REPETITIONS})` : t.test.why,
    p99: `${med(l.base, formatMs)} → ${med(l.head, formatMs)}${l.ratio === null ? '' : ` (${formatPct(l.changePct)})`}${lmark}`,
    result: `${r.marker} ${r.change}`,
  }
}

/** The comparison as a plain-text table (what `echoplex compare` prints). */
export function formatCompareTable (c: Comparison): string {
  const head = { scenario: 'scenario', target: 'target', base: 'BASE req/s', head: 'HEAD req/s', ratio: 'ratio', change: 'change', result: 'result', p99: 'p99 ms BASE → HEAD', test: 'test' }
  const keys = Object.keys(head) as Array<keyof typeof head>
  const right = new Set(['base', 'head', 'ratio', 'change'])
  const rows = c.rows.map((r) => compareCells(r))
  const width = Object.fromEntries(keys.map((k) => [k, Math.max(head[k].length, ...rows.map((x) => x[k].length))])) as Record<keyof typeof head, number>
  const line = (r: Record<keyof typeof head, string>): string => keys.map((k) => right.has(k) ? r[k].padStart(width[k]) : r[k].padEnd(width[k])).join('  ').trimEnd()
  const out = [line(head), keys.map((k) => '-'.repeat(width[k])).join('  '), ...rows.map(line)]
  for (const r of c.rows) if (r.note !== null) out.push(`  ${r.marker} ${r.label} @ ${r.target}: ${r.note}`)
  if (c.onlyInBase.length > 0) out.push('', `only in BASE (${c.onlyInBase.length}): ${c.onlyInBase.map((s) => `${s.label} @ ${s.target} [${s.status}]`).join('; ')}`)
  if (c.onlyInHead.length > 0) out.push('', `only in HEAD (${c.onlyInHead.length}): ${c.onlyInHead.map((s) => `${s.label} @ ${s.target} [${s.status}]`).join('; ')}`)
  if (c.environmentDiffers.length > 0) out.push('', `warning: the runs come from different environments: ${c.environmentDiffers.map((d) => `${d.field} ${d.base} → ${d.head}`).join('; ')}`)
  out.push('', `${c.rows.length} matched: ${(Object.keys(c.counts) as Change[]).filter((k) => c.counts[k] > 0).map((k) => `${c.counts[k]} ${MARKERS[k]} ${k}`).join(', ') || 'none'}`)
  if (c.tooFew !== null) out.push(c.tooFew)
  const drift = driftLine(c)
  if (drift !== null) out.push(drift)
  out.push(`test: ${c.method}`)
  if (c.failOnRegressionPct !== null) {
    out.push(c.gate.failed
      ? `FAIL: significant regression beyond ${c.failOnRegressionPct}%: ${c.gate.reasons.join('; ')}`
      : `pass: no significant regression beyond ${c.failOnRegressionPct}%`)
  }
  return out.join('\n')
}
