/**
 * The report's view of one or more results files: per scenario group (scenarios that differ only in
 * their target), every target's throughput median with its spread across repetitions, its ratio to
 * every peer of the group, latency percentiles, memory per connection, processes and threads, requests
 * per server CPU-second, connect → first byte (the fork model's spawn wait), errors and mismatches, and
 * its status. A failed scenario stays in the view, marked — never dropped.
 *
 * Everything here is derived from the results (docs/RESULTS.md); nothing is written by hand.
 */
import type { Environment, ExpectKind, PeerInfo, ProfileRecord, Results, ScenarioResult, ScenarioStatus, Spread, TargetConfig, Timeline } from '@echoplex/results'
import { runtimeText } from '@echoplex/results'
import { formatPayload } from './format.js'
import { buildVerdicts, type Verdict } from './verdicts.js'
import { medianTimeline } from './timeline-chart.js'

/** The peers that results are shown as ratios to, in this order, where present. */
export const PEER_ORDER = ['node-net', 'node-http', 'c-epoll', 'py-forking', 'py-threading'] as const

export interface RunInfo {
  /** 0-based index among the results given to buildReport */
  index: number
  /** where it was read from, when known (set by writeReport) */
  path: string | null
  suite: string
  description: string
  repetitions: number
  startedAt: string
  finishedAt: string
  durationMs: number
  complete: boolean
  interrupted: string | null
  tool: { name: string, version: string }
  environment: Environment
  peers: PeerInfo[]
  notes: string[]
  /** scenarios by status */
  statusCounts: Partial<Record<ScenarioStatus, number>>
  /** what actually ran (the suite with its command-line overrides applied, read from the scenarios): label → value */
  ran: Array<[string, string]>
  /** whether its measurements followed a warm-up until steady (a workload's steadyWarmupMs) */
  warmedUntilSteady: boolean
}

const uniq = <T>(xs: T[]): T[] => [...new Set(xs)]

/** The most each workload of `r` let a warm-up until steady take (ms), each value once; empty: none ran. */
const steadyWarmups = (r: Results): number[] => uniq(r.suite.workloads.map((w) => w.steadyWarmupMs ?? 0).filter((ms) => ms > 0))

/** What a run actually ran: targets, workloads and sizes as the scenarios record them (overrides included). */
export function whatRan (r: Results): Array<[string, string]> {
  const sc = r.scenarios
  const out: Array<[string, string]> = []
  out.push(['models', r.suite.models.map((m) => `${m.label}${m.label !== m.name ? ` (${m.name})` : ''}${m.workers === null ? '' : ` ×${m.workers} workers`}${m.spares === null || m.spares === 0 ? '' : `, ${m.spares} spares`}${m.args === undefined ? '' : ` [${m.args.join(' ')}]`}`).join(', ') || 'none'])
  out.push(['peers', uniq(sc.filter((s) => s.target.kind === 'peer').map((s) => s.target.label)).join(', ') || 'none'])
  out.push(['workloads', r.suite.workloads.map((w) => {
    const opts = Object.entries(w.options).map(([k, v]) => `${k}=${v}`).join(', ')
    const handler = w.handler === w.name ? '' : ` handler ${w.handler},`
    return `${w.name} (${handler} ${w.framing} framing, replies checked: ${w.expect === 'script' ? `load script ${w.loadScript ?? ''}` : w.expect}${opts === '' ? '' : `, ${opts}`})`.replace('( ', '(')
  }).join('; ')])
  const timing = uniq(sc.map((s) => `${formatDurationMs(s.durationMs)} measured after ${formatDurationMs(s.warmupMs)} warmup`))
  out.push(['per repetition', timing.join('; ')])
  const steadyMax = steadyWarmups(r)
  if (steadyMax.length > 0) {
    const reps = sc.flatMap((s) => s.repetitions.filter((x) => x.steadyWarmup != null).map((x) => ({ label: s.target.label, w: x.steadyWarmup! })))
    const unsettled = uniq(reps.filter((x) => !x.w.steady).map((x) => x.label))
    out.push(['warm-up until steady', `before the fixed warmup, the scenario's load in 1 s steps until the last 3 agree within 10% and are at most 5% above the 3 before (at most ${steadyMax.map(formatDurationMs).join(' / ')}): ` +
      `${reps.filter((x) => x.w.steady).length} of ${reps.length} repetitions settled${unsettled.length === 0 ? '' : `; not settled: ${unsettled.join(', ')}`}`])
  }
  out.push(['repetitions', String(r.suite.repetitions)])
  out.push(['connections', uniq(sc.map((s) => s.connections)).sort((a, b) => a - b).join(', ')])
  out.push(['payloads', uniq(sc.map((s) => s.payloadBytes)).sort((a, b) => a - b).map(formatPayload).join(', ')])
  out.push(['modes', uniq(sc.map((s) => s.mode)).join(', ')])
  const pipes = uniq(sc.map((s) => s.pipeline))
  if (pipes.some((p) => p > 1)) out.push(['pipeline', pipes.join(', ')])
  out.push(['load generator', `${r.suite.loadThreads} thread(s)`])
  return out
}

const formatDurationMs = (ms: number): string => ms >= 1000 && ms % 100 === 0 ? `${ms / 1000} s` : `${ms} ms`

export interface PeerRatio {
  /** peer label */
  peer: string
  /** this target's median req/s ÷ the peer's; null when either is missing or the peer did not run ok */
  ratio: number | null
}

/** One repetition's figures, and the round it ran in. */
export interface RoundFigures { round: number, throughput: number | null, p99: number | null }

export interface TargetRow {
  /** scenario id (`workload:target:payloadB:cN:mode`) */
  id: string
  target: string
  /** external: a server echoplex did not start (`bench --target`), shown like a peer */
  kind: 'model' | 'peer' | 'external'
  /** model or peer name (label may differ, e.g. `fork-booted`) */
  name: string
  workers: number | null
  spares: number | null
  /** the Node version it ran under, and any Node options, when the run chose runtimes (`bench --node`) */
  runtime: string | null
  status: ScenarioStatus
  reason: string | null
  repetitions: { measured: number, ok: number, failed: number, interrupted: number }
  /** req/s across repetitions */
  throughput: Spread | null
  /**
   * Each measured repetition's req/s and p99 by the round it ran in (every scenario runs once per
   * round): what pairs two targets' figures taken within one round, not a whole run apart. Empty for
   * results that did not record rounds.
   */
  byRound: RoundFigures[]
  /** ratio to each peer of the group (PEER_ORDER first, then any other) */
  peerRatios: PeerRatio[]
  latency: { mean: Spread | null, p50: Spread | null, p90: Spread | null, p99: Spread | null, p999: Spread | null }
  rssPerConnection: Spread | null
  pssPerConnection: Spread | null
  rss: Spread | null
  pss: Spread | null
  processes: Spread | null
  threads: Spread | null
  requestsPerCpuSec: Spread | null
  serverCpuPercent: Spread | null
  /** connect → first reply byte (raw TCP loads); for the fork model this is the spawn wait */
  connectP50Ms: Spread | null
  connectP99Ms: Spread | null
  /** summed over the measured repetitions */
  errors: number
  mismatches: number
  /** the load generator was ≥ 90 % busy in some repetition: the number is a lower bound */
  generatorSaturated: boolean
  /** zombie processes seen in the window (max over repetitions) */
  zombies: number
  warnings: string[]
  problems: string[]
  /** the timeline of its median repetition (by req/s), null when none was recorded (older results) */
  timeline: Timeline | null
  /** the CPU profile of its first profiled repetition (`bench --profile`), null when none */
  profile: ProfileRecord | null
}

export interface ReportGroup {
  /** unique in the model: `<run index>:<group>` */
  key: string
  /** the results' `group` (`workload:payloadB:cN:mode`) */
  group: string
  /** `echo 64B c16 keep-alive`, with the suite name when the report covers several runs */
  label: string
  run: number
  workload: string
  handler: string
  /** echo | upper | work: what the handler does (work = CPU-bound) */
  expect: ExpectKind
  framing: string
  options: Record<string, string>
  payloadBytes: number
  connections: number
  mode: 'keep-alive' | 'churn'
  pipeline: number
  loadTool: 'autocannon' | 'tcp'
  durationMs: number
  /** peer labels of this group (those that ran ok are the ratio bases) */
  peers: string[]
  rows: TargetRow[]
  /** a fixed-rate (open-loop) group: the rate every target ran at and how it was chosen; null for closed-loop groups */
  fixedRate: { requestsPerSec: number | null, basis: string | null } | null
}

export interface ReportModel {
  title: string
  generatedAt: string
  runs: RunInfo[]
  groups: ReportGroup[]
  verdicts: Verdict[]
  /** scenarios not ok (failed, skipped, interrupted, not-run) with why */
  problems: Array<{ group: string, target: string, status: ScenarioStatus, reason: string | null }>
  totals: { scenarios: number, byStatus: Partial<Record<ScenarioStatus, number>> }
}

export interface BuildOptions {
  /** paths the results were read from (same order), shown in the report */
  paths?: Array<string | null>
  /** a fixed generation time (tests; default: the newest finishedAt of the runs, so output is deterministic) */
  generatedAt?: string
  title?: string
}

/** The run-level facts of one results file. */
export function runInfo (r: Results, index: number, path: string | null): RunInfo {
  const statusCounts: Partial<Record<ScenarioStatus, number>> = {}
  for (const s of r.scenarios) statusCounts[s.status] = (statusCounts[s.status] ?? 0) + 1
  return {
    index,
    path,
    suite: r.suite.name,
    description: r.suite.description ?? '',
    repetitions: r.suite.repetitions,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    complete: r.complete,
    interrupted: r.interrupted,
    tool: r.tool,
    environment: r.environment,
    peers: r.peers,
    notes: r.notes,
    statusCounts,
    ran: whatRan(r),
    warmedUntilSteady: steadyWarmups(r).length > 0,
  }
}

/** `echo 64B c16 keep-alive` (plus ` pipeline 4` when pipelined, ` at a fixed rate` for open-loop groups) */
export function groupLabel (s: Pick<ScenarioResult, 'workload' | 'payloadBytes' | 'connections' | 'mode' | 'pipeline'> & { fixedRate?: unknown }): string {
  return `${s.workload.name} ${formatPayload(s.payloadBytes)} c${s.connections} ${s.mode}${s.pipeline > 1 ? ` pipeline ${s.pipeline}` : ''}${s.fixedRate != null ? ' at a fixed rate' : ''}`
}

function peerRank (label: string): number {
  const i = (PEER_ORDER as readonly string[]).indexOf(label)
  return i < 0 ? PEER_ORDER.length : i
}

function targetRow (s: ScenarioResult): TargetRow {
  const m = s.summary
  const measured = s.repetitions.filter((r) => r.load !== null && r.status !== 'interrupted')
  const t: TargetConfig = s.target
  // no request completed in any repetition: latency percentiles are not measurements (they read 0)
  const none = m?.requestsPerSec != null && m.requestsPerSec.max === 0
  const lat = (x: Spread | null | undefined): Spread | null => none ? null : x ?? null
  return {
    id: s.id,
    target: t.label,
    kind: t.kind,
    name: t.name,
    workers: t.workers,
    spares: t.spares,
    runtime: t.runtime === undefined ? null : runtimeText(t.runtime),
    status: s.status,
    reason: s.reason,
    repetitions: {
      measured: measured.length,
      ok: s.repetitions.filter((r) => r.status === 'ok').length,
      failed: s.repetitions.filter((r) => r.status === 'failed').length,
      interrupted: s.repetitions.filter((r) => r.status === 'interrupted').length,
    },
    throughput: m?.requestsPerSec ?? null,
    byRound: measured.flatMap((r) => r.round === undefined
      ? []
      : [{ round: r.round, throughput: r.load?.throughput.requestsPerSec ?? null, p99: none ? null : r.load?.latency.p99 ?? null }]),
    peerRatios: [],
    latency: {
      mean: lat(m?.latencyMeanMs),
      p50: lat(m?.latencyP50Ms),
      p90: lat(m?.latencyP90Ms),
      p99: lat(m?.latencyP99Ms),
      p999: lat(m?.latencyP999Ms),
    },
    rssPerConnection: m?.rssPerConnectionBytes ?? null,
    pssPerConnection: m?.pssPerConnectionBytes ?? null,
    rss: m?.rssBytes ?? null,
    pss: m?.pssBytes ?? null,
    processes: m?.processes ?? null,
    threads: m?.threads ?? null,
    requestsPerCpuSec: m?.requestsPerCpuSec ?? null,
    serverCpuPercent: m?.serverCpuPercent ?? null,
    connectP50Ms: m?.connectP50Ms ?? null,
    connectP99Ms: m?.connectP99Ms ?? null,
    errors: measured.reduce((a, r) => a + (r.load?.errors.total ?? 0), 0),
    mismatches: measured.reduce((a, r) => a + (r.load?.mismatches ?? 0), 0),
    generatorSaturated: s.repetitions.some((r) => r.derived?.generatorSaturated === true),
    zombies: Math.max(0, ...s.repetitions.map((r) => r.window?.zombies.max ?? 0)),
    warnings: [...new Set(s.repetitions.flatMap((r) => r.warnings))],
    problems: [...new Set(s.repetitions.flatMap((r) => r.problems))],
    timeline: medianTimeline(measured),
    profile: s.repetitions.find((r) => r.profile != null)?.profile ?? null,
  }
}

/** The median req/s a ratio may be taken against: only a peer that ran ok and measured something. */
function ratioBase (row: TargetRow): number | null {
  const v = row.throughput?.median
  return row.status === 'ok' && v !== undefined && v > 0 ? v : null
}

/** Derives the report's view from one or more results files (already read and validated). */
export function buildReport (results: Results[], options: BuildOptions = {}): ReportModel {
  const runs = results.map((r, i) => runInfo(r, i, options.paths?.[i] ?? null))
  const groups: ReportGroup[] = []
  const several = results.length > 1
  results.forEach((r, run) => {
    const byGroup = new Map<string, ReportGroup>()
    for (const s of r.scenarios) {
      let g = byGroup.get(s.group)
      if (g === undefined) {
        g = {
          key: `${run}:${s.group}`,
          group: s.group,
          label: several ? `${groupLabel(s)} (${r.suite.name} #${run + 1})` : groupLabel(s),
          run,
          workload: s.workload.name,
          handler: s.workload.handler,
          expect: s.workload.expect,
          framing: s.workload.framing,
          options: s.workload.options,
          payloadBytes: s.payloadBytes,
          connections: s.connections,
          mode: s.mode,
          pipeline: s.pipeline,
          loadTool: s.loadTool,
          durationMs: s.durationMs,
          peers: [],
          rows: [],
          fixedRate: s.fixedRate == null ? null : { requestsPerSec: s.rate?.requestsPerSec ?? null, basis: s.rate?.basis ?? null },
        }
        byGroup.set(s.group, g)
        groups.push(g)
      }
      g.rows.push(targetRow(s))
      if (s.target.kind === 'peer') g.peers.push(s.target.label)
    }
    for (const g of byGroup.values()) {
      g.peers.sort((a, b) => peerRank(a) - peerRank(b) || (a < b ? -1 : a > b ? 1 : 0))
      for (const row of g.rows) {
        const v = row.throughput?.median
        row.peerRatios = g.peers.map((peer) => {
          const base = ratioBase(g.rows.find((x) => x.target === peer)!)
          return { peer, ratio: base === null || v === undefined ? null : v / base }
        })
      }
    }
  })
  const problems = groups.flatMap((g) => g.rows.filter((r) => r.status !== 'ok').map((r) => ({ group: g.label, target: r.target, status: r.status, reason: r.reason })))
  const byStatus: Partial<Record<ScenarioStatus, number>> = {}
  for (const g of groups) for (const r of g.rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1
  const newest = results.map((r) => r.finishedAt).sort().at(-1) ?? new Date(0).toISOString()
  return {
    title: options.title ?? (several ? `echoplex report: ${[...new Set(results.map((r) => r.suite.name))].join(', ')}` : `echoplex report: ${results[0]?.suite.name ?? 'no results'}`),
    generatedAt: options.generatedAt ?? newest,
    runs,
    groups,
    verdicts: buildVerdicts(groups),
    problems,
    totals: { scenarios: groups.reduce((a, g) => a + g.rows.length, 0), byStatus },
  }
}
