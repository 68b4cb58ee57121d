/**
 * The verdict table: which concurrency model wins where, derived purely from the data.
 *
 * Categories (scenario groups of the run that fall in each):
 * - `io`: I/O-bound echo — echo/upper/http workloads, keep-alive. Higher median req/s wins.
 * - `cpu`: CPU-bound — the `work` handler (expect `work`). Higher median req/s wins.
 * - `churn`: connection churn — a new connection per request, non-work workloads. Higher median req/s wins.
 * - `memory`: memory per connection — keep-alive groups, PSS per connection (RSS where PSS is unknown). Lower wins.
 *
 * Only models compete (peers are the reference; the best peer is shown beside the winner), and only
 * scenarios whose status is `ok` (a failed one is listed in the verdict's notes, not ranked).
 *
 * With one group in a category the margin is the winner's median over the runner-up's. With several,
 * each model's score is the geometric mean, over the groups it ran ok in, of its median relative to
 * the best model of that group (1 = best everywhere); the margin is the ratio of the two scores.
 * Memory uses the median over the groups of each model's per-connection bytes, and the margin is the
 * difference in bytes per connection. Whether the winner's lead exceeds the noise across repetitions
 * uses the same test as `compare` (see stats.ts), for each group.
 */
import { formatBytes, formatRate, formatRatio } from './format.js'
import type { ReportGroup, TargetRow } from './model.js'
import { median, noiseTest } from './stats.js'
import { generatorBound, rankingMetric } from './efficiency.js'

export type VerdictCategory = 'io' | 'cpu' | 'churn' | 'memory'

export interface VerdictEntry {
  target: string
  /** throughput: geometric-mean relative score (1 = best in every group); memory: median bytes per connection */
  score: number
  /** the metric as shown: req/s (single group: the median; several: the geometric mean of medians) or bytes per connection */
  value: number
  /** groups of the category it ran ok in */
  groups: number
}

export interface Verdict {
  category: VerdictCategory
  /** `I/O-bound echo (keep-alive)` … */
  title: string
  /** what is compared, in words */
  metric: string
  measured: boolean
  winner: VerdictEntry | null
  runnerUp: VerdictEntry | null
  /** every ranked model, best first */
  ranking: VerdictEntry[]
  /** throughput: winner ÷ runner-up (> 1); memory: runner-up ÷ winner bytes (when both > 0) */
  marginRatio: number | null
  /** memory: runner-up − winner, bytes per connection */
  marginBytes: number | null
  /** one line: `1.78× the runner-up (fork)`, or `not measured in this run` */
  margin: string
  /** groups where the winner's lead over the runner-up exceeds the noise / groups compared */
  significantIn: { groups: number, of: number }
  /** the best peer of the category for context (same metric), or null */
  bestPeer: { target: string, value: number } | null
  /** the groups it is based on (labels) */
  basis: string[]
  notes: string[]
  /** the table's one-line summary */
  summary: string
}

const TITLES: Record<VerdictCategory, { title: string, metric: string }> = {
  io: { title: 'I/O-bound echo (keep-alive)', metric: 'median req/s (higher wins)' },
  cpu: { title: 'CPU-bound work handler', metric: 'median req/s (higher wins)' },
  churn: { title: 'Connection churn (new connection per request)', metric: 'median req/s (higher wins)' },
  memory: { title: 'Memory per connection', metric: 'median PSS per connection under load (lower wins)' },
}

export const NOT_MEASURED = 'not measured in this run'

function inCategory (g: ReportGroup, c: VerdictCategory): boolean {
  // at a fixed rate every target serves the same req/s: those groups compare latency, not throughput
  if (g.fixedRate !== null) return false
  switch (c) {
    case 'io': return g.expect !== 'work' && g.mode === 'keep-alive'
    case 'cpu': return g.expect === 'work'
    case 'churn': return g.expect !== 'work' && g.mode === 'churn'
    case 'memory': return g.mode === 'keep-alive'
  }
}

const rps = (r: TargetRow): number | null => r.status === 'ok' && r.throughput !== null && r.throughput.median > 0 ? r.throughput.median : null
/** the group's ranking value of a row: req/s, or requests per server CPU-second where the generator saturated (efficiency.ts) */
const rankValue = (g: ReportGroup) => (r: TargetRow): number | null => {
  if (rps(r) === null) return null
  const s = rankingMetric(g).spread(r)
  return s !== null && s.median > 0 ? s.median : null
}
function perConn (r: TargetRow): { median: number, values: number[] } | null {
  if (r.status !== 'ok') return null
  const s = r.pssPerConnection ?? r.rssPerConnection
  return s === null ? null : { median: s.median, values: s.values }
}

const geomean = (xs: number[]): number => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length)

function excludedNotes (groups: ReportGroup[], ok: (r: TargetRow) => boolean): string[] {
  const notes: string[] = []
  for (const g of groups) {
    for (const r of g.rows) {
      if (r.kind === 'model' && r.status !== 'ok') notes.push(`${r.target} not ranked in ${g.label}: ${r.status}${r.reason === null ? '' : ` (${r.reason})`}`)
      else if (r.kind === 'model' && !ok(r)) notes.push(`${r.target} not ranked in ${g.label}: nothing measured`)
      if (r.generatorSaturated && r.status === 'ok') notes.push(`${r.target} in ${g.label}: the load generator was saturated; its number is a lower bound`)
    }
  }
  return notes
}

function throughputVerdict (c: VerdictCategory, groups: ReportGroup[]): Verdict {
  const base = emptyVerdict(c, groups)
  if (groups.length === 0) return base
  const rel = new Map<string, number[]>()
  const abs = new Map<string, number[]>()
  const peerAbs = new Map<string, number[]>()
  const byEfficiency: string[] = []
  for (const g of groups) {
    const value = rankValue(g)
    if (generatorBound(g)) byEfficiency.push(g.label)
    const models = g.rows.filter((r) => r.kind === 'model' && value(r) !== null)
    const best = Math.max(...models.map((r) => value(r)!))
    for (const r of models) {
      rel.set(r.target, [...(rel.get(r.target) ?? []), value(r)! / best])
      abs.set(r.target, [...(abs.get(r.target) ?? []), rps(r)!])
    }
    for (const r of g.rows.filter((x) => x.kind === 'peer' && rps(x) !== null)) peerAbs.set(r.target, [...(peerAbs.get(r.target) ?? []), rps(r)!])
  }
  const ranking: VerdictEntry[] = [...rel].map(([target, xs]) => ({ target, score: geomean(xs), value: geomean(abs.get(target)!), groups: xs.length }))
    .sort((a, b) => b.score - a.score || b.groups - a.groups || (a.target < b.target ? -1 : 1))
  const peers = [...peerAbs].map(([target, xs]) => ({ target, value: geomean(xs) })).sort((a, b) => b.value - a.value)
  const notes = excludedNotes(groups, (r) => rps(r) !== null)
  if (byEfficiency.length > 0) {
    notes.push(`ranked by requests per server CPU-second (not req/s) in ${byEfficiency.join(', ')}: the load generator saturated there, so req/s measured the generator`)
  }
  return finish(base, ranking, peers[0] ?? null, notes, groups, (w, r) => {
    const ratio = w.score / r.score
    return { marginRatio: ratio, marginBytes: null, margin: `${formatRatio(ratio)} the runner-up (${r.target}: ${formatRate(r.value)} req/s${byEfficiency.length > 0 ? '; efficiency-ranked where the generator saturated' : ''})` }
  }, (g, w, r) => {
    const metric = rankingMetric(g)
    const wr = g.rows.find((x) => x.target === w)
    const rr = g.rows.find((x) => x.target === r)
    const ws = wr === undefined ? null : metric.spread(wr)
    const rs = rr === undefined ? null : metric.spread(rr)
    if (ws === null || rs === null || rps(wr!) === null || rps(rr!) === null) return null
    return noiseTest(rs.values, ws.values).significant
  })
}

function memoryVerdict (groups: ReportGroup[]): Verdict {
  const base = emptyVerdict('memory', groups)
  const per = new Map<string, number[]>()
  const peerPer = new Map<string, number[]>()
  const used: ReportGroup[] = []
  for (const g of groups) {
    let any = false
    for (const r of g.rows) {
      const v = perConn(r)
      if (v === null) continue
      any = true
      const map = r.kind === 'model' ? per : peerPer
      map.set(r.target, [...(map.get(r.target) ?? []), v.median])
    }
    if (any) used.push(g)
  }
  if (used.length === 0) return base
  base.basis = used.map((g) => g.label)
  const ranking: VerdictEntry[] = [...per].map(([target, xs]) => ({ target, score: median(xs), value: median(xs), groups: xs.length }))
    .sort((a, b) => a.score - b.score || b.groups - a.groups || (a.target < b.target ? -1 : 1))
  const peers = [...peerPer].map(([target, xs]) => ({ target, value: median(xs) })).sort((a, b) => a.value - b.value)
  const notes = excludedNotes(used, (r) => perConn(r) !== null)
  notes.push('per connection = (mean RSS/PSS of the whole process tree under load − idle) ÷ connections; small values are within sampling noise and can be negative')
  return finish(base, ranking, peers[0] ?? null, notes, used, (w, r) => {
    const diff = r.value - w.value
    const ratio = w.value > 0 && r.value > 0 ? r.value / w.value : null
    return {
      marginRatio: ratio,
      marginBytes: diff,
      margin: `${formatBytes(diff)} less per connection than the runner-up (${r.target}: ${formatBytes(r.value)}${ratio === null ? '' : `, ${formatRatio(ratio)}`})`,
    }
  }, (g, w, r) => {
    const wv = g.rows.find((x) => x.target === w)
    const rv = g.rows.find((x) => x.target === r)
    const a = wv === undefined ? null : perConn(wv)
    const b = rv === undefined ? null : perConn(rv)
    if (a === null || b === null) return null
    return noiseTest(b.values, a.values).significant
  })
}

function emptyVerdict (c: VerdictCategory, groups: ReportGroup[]): Verdict {
  return {
    category: c,
    ...TITLES[c],
    measured: false,
    winner: null,
    runnerUp: null,
    ranking: [],
    marginRatio: null,
    marginBytes: null,
    margin: NOT_MEASURED,
    significantIn: { groups: 0, of: 0 },
    bestPeer: null,
    basis: groups.map((g) => g.label),
    notes: [],
    summary: NOT_MEASURED,
  }
}

function finish (
  v: Verdict,
  ranking: VerdictEntry[],
  bestPeer: { target: string, value: number } | null,
  notes: string[],
  groups: ReportGroup[],
  margin: (w: VerdictEntry, r: VerdictEntry) => { marginRatio: number | null, marginBytes: number | null, margin: string },
  significant: (g: ReportGroup, winner: string, runnerUp: string) => boolean | null,
): Verdict {
  v.notes = notes
  v.bestPeer = bestPeer
  v.ranking = ranking
  if (ranking.length === 0) {
    v.summary = `${NOT_MEASURED} (no model ran ok)`
    v.margin = v.summary
    return v
  }
  v.measured = true
  v.winner = ranking[0]!
  v.runnerUp = ranking[1] ?? null
  const several = groups.length > 1
  if (several) {
    const counts = v.winner.groups < groups.length ? ` (ran ok in ${v.winner.groups} of ${groups.length} groups)` : ''
    v.notes.unshift(`${groups.length} scenario groups: ${v.category === 'memory' ? 'the median over them of each model\'s bytes per connection' : 'each model\'s score is the geometric mean over them of its median ÷ the best model\'s'}${counts}`)
  }
  if (v.runnerUp === null) {
    v.margin = 'no runner-up: only one model ran ok'
    v.summary = `${v.winner.target} (the only model measured)`
    return v
  }
  Object.assign(v, margin(v.winner, v.runnerUp))
  let sig = 0
  let of = 0
  for (const g of groups) {
    const s = significant(g, v.winner.target, v.runnerUp.target)
    if (s === null) continue
    of++
    if (s) sig++
  }
  v.significantIn = { groups: sig, of }
  const noise = of === 0 ? '' : sig === of ? '' : sig === 0 ? ' — within the noise across repetitions' : ` — beyond the noise in ${sig} of ${of} groups`
  v.summary = `${v.winner.target} wins: ${v.margin}${noise}`
  return v
}

/** The four verdicts, in a fixed order: io, cpu, churn, memory. */
export function buildVerdicts (groups: ReportGroup[]): Verdict[] {
  const of = (c: VerdictCategory): ReportGroup[] => groups.filter((g) => inCategory(g, c))
  return [
    throughputVerdict('io', of('io')),
    throughputVerdict('cpu', of('cpu')),
    throughputVerdict('churn', of('churn')),
    memoryVerdict(of('memory')),
  ]
}
