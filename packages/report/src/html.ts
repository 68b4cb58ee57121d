/**
 * report.html and compare.html: one self-contained file each — CSS and SVG inlined, no script, nothing
 * fetched when it is opened (no external URL in any src or href).
 */
import { barChart, latencyChart, memoryChart, throughputChart } from './charts.js'
import { compareCells, driftLine, MARKERS, type Change, type Comparison, type ComparedScenario } from './compare.js'
import {
  escapeHtml as esc, formatBytes, formatCount, formatCpuPct, formatDuration, formatMs, formatPct, formatRate, formatRatio, formatRoundRange,
} from './format.js'
import type { ReportGroup, ReportModel, RunInfo, TargetRow } from './model.js'
import { hasRoundRanges, matrixValue, ratioColor, winMatrix } from './matrix.js'
import type { Verdict } from './verdicts.js'
import { EFFICIENCY_HEAD, efficiencyCell } from './efficiency.js'
import { timelineCharts } from './timeline-chart.js'
import { flameSection } from './flame.js'
import { pinningLine } from './pinning-line.js'

const CSS = `
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bad:#b91c1c; --badbg:#fef2f2; --good:#15803d; --goodbg:#f0fdf4; --warnbg:#fffbeb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0 auto; padding: 24px 24px 64px; max-width: 1400px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 36px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 28px 0 6px; } .muted, .meta { color: var(--muted); }
table { border-collapse: collapse; margin: 8px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; white-space: nowrap; }
table.compact { font-size: 13px; } table.compact th { white-space: normal; vertical-align: bottom; }
th .unit, td .sub { color: var(--muted); font-weight: 400; font-size: 12px; }
table.matrix td.cell { text-align: right; min-width: 88px; } table.matrix td.cell .sub { display: block; } table.matrix td.cell .rounds { font-size: 11px; white-space: nowrap; }
table.matrix td.best { font-weight: 700; outline: 2px solid #15803d; outline-offset: -2px; }
table.matrix th.peer, table.matrix td.peer { font-style: italic; }
th { background: #f9fafb; font-weight: 600; } td.num, th.num { text-align: right; }
.scroll { overflow-x: auto; } .wrap { white-space: normal; max-width: 520px; }
tr.failed td { background: var(--badbg); } .status-failed, .bad { color: var(--bad); font-weight: 600; }
.status-ok { color: var(--good); } .status-skipped, .status-not-run, .status-interrupted { color: #92400e; font-weight: 600; }
tr.peer td:first-child, tr.peer td.target { font-style: italic; }
.banner { border: 1px solid #f59e0b; background: var(--warnbg); padding: 8px 12px; margin: 12px 0; border-radius: 4px; }
.banner.bad { border-color: var(--bad); background: var(--badbg); } .banner.good { border-color: var(--good); background: var(--goodbg); color: var(--good); }
.note { border-left: 4px solid #6366f1; background: #eef2ff; padding: 8px 12px; margin: 12px 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 12px 24px; margin: 8px 0; } .charts svg { width: 100%; height: auto; }
details.group { border: 1px solid var(--line); border-radius: 4px; margin: 8px 0; padding: 0 12px; } details.group > summary { padding: 8px 0; font-weight: 600; }
details.group > summary .sub { font-weight: 400; color: var(--muted); }
tr.regression td { background: var(--badbg); } tr.improvement td { background: var(--goodbg); } tr.newly-failed td { background: var(--badbg); }
.marker-regression, .marker-newly-failed { color: var(--bad); font-weight: 700; } .marker-improvement, .marker-fixed { color: var(--good); font-weight: 700; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; } dl.env dt { color: var(--muted); } dl.env dd { margin: 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
details { margin: 6px 0; } summary { cursor: pointer; color: #374151; }
`

function page (title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`
}

type Cell = string | { html: string, cls?: string }

type Head = string | { text: string, num?: boolean } | { html: string, num?: boolean }

function table (head: Head[], rows: Array<{ cells: Cell[], cls?: string }>, tableClass?: string): string {
  const th = head.map((h) => typeof h === 'string' ? `<th>${esc(h)}</th>` : `<th${h.num === true ? ' class="num"' : ''}>${'html' in h ? h.html : esc(h.text)}</th>`).join('')
  const numeric = head.map((h) => typeof h !== 'string' && h.num === true)
  const tr = rows.map((r) => `<tr${r.cls === undefined ? '' : ` class="${r.cls}"`}>${r.cells.map((c, i) => {
    const cls = [numeric[i] === true ? 'num' : '', typeof c === 'string' ? '' : c.cls ?? ''].filter((x) => x !== '').join(' ')
    return `<td${cls === '' ? '' : ` class="${cls}"`}>${typeof c === 'string' ? esc(c) : c.html}</td>`
  }).join('')}</tr>`).join('\n')
  return `<div class="scroll"><table${tableClass === undefined ? '' : ` class="${tableClass}"`}><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table></div>`
}

const statusCell = (s: string): Cell => ({ html: `<span class="status-${esc(s)}">${esc(s === 'failed' ? 'FAILED' : s)}</span>` })

export const EVENT_LOOP_NOTE = 'The event-loop model runs every handler on its one thread: it cannot pre-empt a handler that never returns ' +
  '(or one that computes for a long time) — while it runs, every other connection of the server waits, and an endless loop stalls the whole server. ' +
  'cluster, fork and pool keep such a handler away from the other connections (in other processes or worker threads).'

/** What the two fork targets are, in one sentence, for reports that show either. */
export const FORK_NOTE = 'fork (strict) gives every connection a fresh child process, as Python\'s socketserver ForkingMixIn does: a fork() of a warm zygote process that has the handler loaded (where the fork addon builds; a target run with --child-boot snapshot boots a Node process per connection instead); ' +
  'fork-reuse is Apache httpd\'s prefork: a child serves one connection at a time and goes back to the idle set for the next, recycled after --connections-per-child; ' +
  'where a C compiler is present its idle children accept from the kernel themselves (the primary is on no connection\'s path), else the primary hands each socket over.'

/** Said after FORK_NOTE when fork-reuse ran without a warm-up until steady. */
export const FORK_REUSE_COLD_NOTE = 'Each reused child compiles its own code (V8\'s JIT is per process), so fork-reuse takes 10–30 s of load to reach its working speed on a 2-core machine: ' +
  'this run had no warm-up until steady, so its fork-reuse figures are for cold children (the churn suite, or bench --steady-warmup, measures it warm).'

/** Said after FORK_NOTE when a run's servers inherited NODE_EXTRA_CA_CERTS. */
export const EXTRA_CA_CERTS_NOTE = 'NODE_EXTRA_CA_CERTS was set for this run: Node before 22 parses that certificate bundle at every process start (on the 2-core machine this was measured on, 32 of the 53 ms of CPU of a bare node -e 0), and strict fork with booted children (--child-boot snapshot or bundle) pays it per connection; `echoplex boot-cost` measures it on yours.'

/** Whether the report has a target of one of these models (by model name, whatever its label). */
function showsModel (model: ReportModel, ...names: string[]): boolean {
  return model.groups.some((g) => g.rows.some((r) => r.kind === 'model' && names.includes(r.name)))
}

/** Whether the report has a fork or fork-reuse target. */
export const showsFork = (model: ReportModel): boolean => showsModel(model, 'fork', 'fork-reuse')

/**
 * FORK_NOTE, plus FORK_REUSE_COLD_NOTE when fork-reuse ran and no run warmed until steady, plus
 * EXTRA_CA_CERTS_NOTE when strict fork ran with NODE_EXTRA_CA_CERTS set.
 */
export function forkNote (model: ReportModel): string {
  const cold = showsModel(model, 'fork-reuse') && !model.runs.some((run) => run.warmedUntilSteady)
  const certs = showsModel(model, 'fork') && model.runs.some((run) => run.environment.nodeExtraCaCerts !== undefined)
  return [FORK_NOTE, ...(cold ? [FORK_REUSE_COLD_NOTE] : []), ...(certs ? [EXTRA_CA_CERTS_NOTE] : [])].join(' ')
}

// ---------------------------------------------------------------- report

function environmentBlock (run: RunInfo): string {
  const e = run.environment
  const ran = `<h3>What ran${run.ran.length === 0 ? '' : ''}</h3><p class="muted">As the scenarios record it, command-line overrides (<code>-d</code>, <code>-c</code>, <code>-r</code>, <code>-m</code> …) included.</p>` +
    `<dl class="env">${run.ran.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`
  const rows: Array<[string, string]> = [
    ['suite', run.suite],
    ...(run.description === '' ? [] : [['suite file\'s description', `${run.description} (its defaults; what ran is above)`] as [string, string]]),
    ['results file', run.path ?? '(given in memory)'],
    ['run', `${run.startedAt} → ${run.finishedAt} (${formatDuration(run.durationMs)}), ${run.complete ? 'complete' : `INCOMPLETE (${run.interrupted ?? 'interrupted'})`}`],
    ['CPU', `${e.cpuModel}${e.cpuMHz > 0 ? ` @ ${e.cpuMHz} MHz` : ''}, ${e.cores} logical CPU(s), ${e.availableParallelism} usable`],
    ['memory', `${formatBytes(e.memoryBytes)} (${formatBytes(e.freeMemoryBytes)} free at start)`],
    ['load average', `${e.loadAverage} (1 min, at start)`],
    ['OS', `${e.os}, kernel ${e.kernel}, ${e.platform}/${e.arch}`],
    ['Node.js', `${e.node} (V8 ${e.v8})`],
    ...(e.nodeExtraCaCerts === undefined ? [] : [['NODE_EXTRA_CA_CERTS', `${e.nodeExtraCaCerts} (the servers inherited it)`] as [string, string]]),
    ['commit', e.commit === null ? 'unknown' : `${e.commit}${e.dirty === true ? ' (with uncommitted changes)' : ''}`],
    ['echoplex', `${run.tool.name} ${run.tool.version}`],
    ['CPU pinning', pinningLine(e)],
    ['peers', run.peers.length === 0 ? 'none' : run.peers.map((p) => `${p.name}: ${p.available ? 'available' : `unavailable${p.note === null ? '' : ` (${p.note})`}`}`).join('; ')],
  ]
  if (run.notes.length > 0) rows.push(['notes', run.notes.join('; ')])
  return `${ran}<h3>Machine and software</h3><dl class="env">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`
}

/** What a verdict's value is, in words: a median, or a geometric mean over groups. */
function verdictValue (v: Verdict): string {
  const w = v.winner!
  if (v.category === 'memory') return `${formatBytes(w.value)} per connection (median over ${w.groups} group(s))`
  return w.groups === 1
    ? `${formatRate(w.value)} req/s (median over repetitions)`
    : `${formatRate(w.value)} req/s (geometric mean over ${w.groups} groups of its median req/s)`
}

function verdictTable (verdicts: Verdict[]): string {
  const rows = verdicts.map((v) => v.winner === null
    ? { cells: [v.title, { html: `<span class="muted">${esc(v.summary)}</span>`, cls: 'wrap' }] as Cell[], span: true }
    : {
        cells: [
          v.title,
          { html: `<strong>${esc(v.winner.target)}</strong> <span class="sub">${esc(verdictValue(v))}</span>`, cls: 'wrap' },
          { html: esc(v.margin), cls: 'wrap' },
          v.significantIn.of === 0 ? '-' : `${v.significantIn.groups} of ${v.significantIn.of} group(s)`,
          v.bestPeer === null ? '-' : `${v.bestPeer.target}: ${v.category === 'memory' ? formatBytes(v.bestPeer.value) : `${formatRate(v.bestPeer.value)} req/s`}`,
        ] as Cell[],
        span: false,
      })
  const th = ['category', 'winner (and what its value is)', 'margin', 'lead beyond noise', 'best peer'].map((h) => `<th>${esc(h)}</th>`).join('')
  const tr = rows.map((r) => r.span
    ? `<tr><td>${esc(r.cells[0] as string)}</td><td colspan="4" class="wrap">${(r.cells[1] as { html: string }).html}</td></tr>`
    : `<tr>${r.cells.map((c) => typeof c === 'string' ? `<td>${esc(c)}</td>` : `<td class="${c.cls ?? ''}">${c.html}</td>`).join('')}</tr>`).join('\n')
  const notes = verdicts.flatMap((v) => v.notes.map((n) => `${v.title}: ${n}`))
  const basis = verdicts.filter((v) => v.basis.length > 0).map((v) => `${v.title}: ${v.basis.join('; ')}`)
  return `<div class="scroll"><table class="compact verdicts"><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table></div>` +
    `<p class="muted">Derived from the data: ${esc(verdicts[0]?.metric ?? '')} for throughput categories, ${esc(verdicts[3]?.metric ?? '')} for memory. With several groups a model's score is the geometric mean, over the groups, of its median ÷ the group's best model. Only models are ranked (peers are the reference); only scenarios with status ok count. “Lead beyond noise” uses the same test as <code>echoplex compare</code> (≥ 3 repetitions).</p>` +
    (basis.length === 0 && notes.length === 0 ? '' : `<details><summary>what each verdict is based on${notes.length === 0 ? '' : `, and notes (${notes.length})`}</summary><ul>${[...basis, ...notes].map((n) => `<li>${esc(n)}</li>`).join('')}</ul></details>`)
}

/** Models × workloads: each cell the median req/s, coloured by its ratio to the row's best model. */
function matrixTable (model: ReportModel): string {
  const m = winMatrix(model)
  if (m.rows.length === 0) return '<p class="muted">nothing measured</p>'
  const cols = [...m.models.map((t) => ({ t, peer: false })), ...m.peers.map((t) => ({ t, peer: true }))]
  const th = `<th>workload</th><th>winner</th>${cols.map((c) => `<th class="num${c.peer ? ' peer' : ''}">${esc(c.t)}${c.peer ? ' <span class="unit">(peer)</span>' : ''}</th>`).join('')}`
  const reps = [...new Set(m.rows.map((r) => r.repetitions))]
  const tr = m.rows.map((r) => {
    const cells = cols.map((c) => {
      const x = r.cells[c.t]
      if (x === undefined) return `<td class="cell${c.peer ? ' peer' : ''}"><span class="muted">–</span></td>`
      if (x.value === null) return `<td class="cell${c.peer ? ' peer' : ''}" style="background:${ratioColor(null)}"><span class="status-${esc(x.status)}">${esc(x.status === 'failed' ? 'FAILED' : x.status)}</span></td>`
      const title = r.metric === 'p99'
        ? `${c.t}: p99 ${formatMs(x.value)} ms at the row's fixed rate; the row's best model's p99 is ${formatRatio(x.ratio)} of it`
        : `${c.t}: ${formatRate(x.value)} req/s, ${formatRatio(x.ratio)} the row's best model`
      const range = x.roundRatio === null ? '' : `<span class="sub rounds">${esc(formatRoundRange(x.roundRatio))}</span>`
      return `<td class="cell${x.best ? ' best' : ''}${c.peer ? ' peer' : ''}" style="background:${ratioColor(x.ratio)}" title="${esc(title)}">${esc(matrixValue(r, x.value))}<span class="sub">${esc(formatRatio(x.ratio))}</span>${range}</td>`
    }).join('')
    const win = r.winner === null ? '<span class="muted">no model ran ok</span>' : `<strong>${esc(r.winner)}</strong>${r.margin === null ? '' : ` <span class="sub">${esc(formatRatio(r.margin))} the next</span>`}`
    return `<tr><td><a href="#g-${esc(r.key.replace(/[^A-Za-z0-9_-]/g, '-'))}">${esc(r.label)}</a></td><td>${win}</td>${cells}</tr>`
  }).join('\n')
  return `<div class="scroll"><table class="compact matrix"><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table></div>` +
    `<p class="muted">Each cell: median req/s over ${reps.length === 1 ? `${reps[0]} repetition(s)` : 'the repetitions'}, and its ratio to the best model of the row (1.00× = the winner, outlined)${hasRoundRanges(m) ? ', with that ratio\'s range over the rounds: each taken between the two targets\' repetitions of one round, so the machine\'s drift over a run hits both alike' : ''}. Colour = that ratio: green 1.00×, yellow ≈ 0.6×, red ≤ 0.25×; peers are coloured the same way (above 1.00×: faster than every model).${m.rows.some((r) => r.metric === 'p99') ? ' At a fixed rate every target serves the same req/s, so there a cell is its median p99 and the best model\'s p99 ÷ its own: the lowest wins.' : ''}</p>`
}

const spreadText = (s: { min: number, max: number } | null, f: (v: number) => string): string => s === null ? '-' : `${f(s.min)} – ${f(s.max)}`

function peersOf (model: ReportModel): string[] {
  const out: string[] = []
  for (const g of model.groups) for (const p of g.peers) if (!out.includes(p)) out.push(p)
  return out
}

function ratioTo (r: TargetRow, peer: string): string {
  const pr = r.peerRatios.find((p) => p.peer === peer)
  if (pr === undefined) return '-'
  if (r.target === peer) return pr.ratio === null ? '-' : '1.00× (itself)'
  return formatRatio(pr.ratio)
}

/** The fastest peer of the row's group that ran ok: `0.85× node-net`. */
function vsBestPeer (r: TargetRow): string {
  const best = r.peerRatios.filter((p) => p.ratio !== null).sort((a, b) => a.ratio! - b.ratio!)[0]
  if (best === undefined) return '-'
  if (best.peer === r.target) return 'itself'
  return `${formatRatio(best.ratio)} ${best.peer}`
}

/** One row per scenario, sized to fit 1400 px: throughput, latency and what it costs (processes, threads, CPU, memory). */
function summaryTable (model: ReportModel): string {
  const reps = [...new Set(model.groups.flatMap((g) => g.rows.map((r) => r.throughput?.n ?? 0)).filter((n) => n > 0))]
  const ofN = reps.length === 1 ? `median of ${reps[0]}` : 'median'
  const rows = model.groups.flatMap((g) => g.rows.map((r) => ({
    cls: [r.status === 'failed' ? 'failed' : '', r.kind !== 'model' ? 'peer' : ''].filter((x) => x !== '').join(' ') || undefined,
    cells: [
      g.label,
      { html: `${esc(r.target)}${r.kind !== 'model' ? ` <span class="muted">(${r.kind})</span>` : ''}`, cls: 'target' },
      statusCell(r.status),
      formatRate(r.throughput?.median),
      efficiencyCell(r),
      r.throughput === null ? '-' : `${(r.throughput.cv * 100).toFixed(0)}%`,
      vsBestPeer(r),
      formatMs(r.latency.p99?.median),
      formatCount(r.processes?.median),
      formatCount(r.threads?.median),
      formatCpuPct(r.serverCpuPercent?.median),
      formatBytes(r.pssPerConnection?.median ?? r.rssPerConnection?.median),
      formatCount(r.errors + r.mismatches),
    ] as Cell[],
  })))
  const h = (text: string, unit: string): { html: string } => ({ html: `${esc(text)} <span class="unit">${esc(unit)}</span>` })
  return table([
    'scenario', 'target', 'status',
    // efficiency right beside req/s: a server fast because it is cheap, or because it burns every core
    { ...h('req/s', `(${ofN})`), num: true }, { text: EFFICIENCY_HEAD, num: true }, { ...h('CV', '(spread)'), num: true }, { ...h('vs peer', '(fastest)'), num: true },
    { ...h('p99', 'ms'), num: true }, { text: 'processes', num: true }, { text: 'threads', num: true },
    { ...h('server CPU', '% of a core'), num: true }, { ...h('PSS', 'per conn.'), num: true },
    { ...h('errors', '+ mismatches'), num: true },
  ], rows, 'compact summary')
}

function targetCell (r: TargetRow): Cell {
  return { html: `${esc(r.target)}${r.kind !== 'model' ? ` <span class="muted">(${r.kind})</span>` : ''}${r.workers !== null ? ` <span class="muted">${r.workers} workers</span>` : ''}${r.spares !== null && r.spares > 0 ? ` <span class="muted">${r.spares} spares</span>` : ''}${r.runtime !== null ? ` <span class="muted">node ${esc(r.runtime)}</span>` : ''}`, cls: 'target' }
}

const rowClass = (r: TargetRow): string | undefined => [r.status === 'failed' ? 'failed' : '', r.kind !== 'model' ? 'peer' : ''].filter((x) => x !== '').join(' ') || undefined

/** A scenario group, folded: its charts, then two tables (speed; what it costs) that each fit the page. */
function groupDetail (g: ReportGroup, open: boolean): string {
  const n = Math.max(0, ...g.rows.map((r) => r.throughput?.n ?? 0))
  const speed = g.rows.map((r) => ({
    cls: rowClass(r),
    cells: [
      targetCell(r),
      statusCell(r.status),
      `${r.repetitions.ok}/${r.repetitions.ok + r.repetitions.failed + r.repetitions.interrupted}`,
      formatRate(r.throughput?.median),
      spreadText(r.throughput, formatRate),
      r.throughput === null ? '-' : `${(r.throughput.cv * 100).toFixed(1)}%`,
      ...g.peers.map((p) => ratioTo(r, p)),
      formatMs(r.latency.p50?.median), formatMs(r.latency.p90?.median), formatMs(r.latency.p99?.median), formatMs(r.latency.p999?.median),
      r.errors === 0 ? '0' : { html: `<span class="bad">${formatCount(r.errors)}</span>` },
      r.mismatches === 0 ? '0' : { html: `<span class="bad">${formatCount(r.mismatches)}</span>` },
    ] as Cell[],
  }))
  const cost = g.rows.map((r) => ({
    cls: rowClass(r),
    cells: [
      targetCell(r),
      formatCount(r.processes?.median), formatCount(r.threads?.median),
      formatCpuPct(r.serverCpuPercent?.median), efficiencyCell(r),
      formatBytes(r.rssPerConnection?.median), formatBytes(r.pssPerConnection?.median),
      formatBytes(r.rss?.median), formatBytes(r.pss?.median),
      r.connectP50Ms === null ? '-' : `${formatMs(r.connectP50Ms.median)} / ${formatMs(r.connectP99Ms?.median)}`,
    ] as Cell[],
  }))
  const speedHead: Head[] = [
    'target', 'status', 'reps ok', { text: `req/s (median of ${n})`, num: true }, { text: 'min – max', num: true }, { text: 'CV', num: true },
    ...g.peers.map((p) => ({ text: `vs ${p}`, num: true })),
    { text: 'p50 ms', num: true }, { text: 'p90 ms', num: true }, { text: 'p99 ms', num: true }, { text: 'p99.9 ms', num: true },
    { text: 'errors', num: true }, { text: 'mismatches', num: true },
  ]
  const costHead: Head[] = [
    'target', { text: 'processes', num: true }, { text: 'threads', num: true }, { text: 'server CPU', num: true }, { text: EFFICIENCY_HEAD, num: true },
    { text: 'RSS / conn', num: true }, { text: 'PSS / conn', num: true }, { text: 'RSS tree', num: true }, { text: 'PSS tree', num: true },
    // a model that starts a process per connection (fork) shows its spawn wait here
    { text: 'connect → 1st byte p50 / p99 ms (incl. any process start)', num: true },
  ]
  const problems = g.rows.filter((r) => r.status !== 'ok' || r.warnings.length > 0 || r.generatorSaturated)
  const opts = Object.entries(g.options).map(([k, v]) => `${k}=${v}`).join(', ')
  const charts = [throughputChart(g), latencyChart(g), memoryChart(g)].filter((c): c is string => c !== null)
  const extras = [timelineCharts(g), flameSection(g)].filter((c): c is string => c !== null)
  const best = g.rows.filter((r) => r.kind === 'model' && r.status === 'ok' && r.throughput !== null).sort((a, b) => b.throughput!.median - a.throughput!.median)[0]
  return `<details class="group" id="g-${esc(g.key.replace(/[^A-Za-z0-9_-]/g, '-'))}"${open ? ' open' : ''}>
<summary>${esc(g.label)} <span class="sub">${best === undefined ? 'no model ran ok' : `fastest model: ${esc(best.target)}, ${esc(formatRate(best.throughput!.median))} req/s`}${problems.some((r) => r.status !== 'ok') ? ' · <span class="bad">not all ok</span>' : ''}</span></summary>
<p class="meta">handler <code>${esc(g.handler)}</code> (${esc(g.framing)} framing${opts === '' ? '' : `, ${esc(opts)}`}) · ${g.payloadBytes} B payload · ${g.connections} ${g.mode === 'churn' ? 'concurrent connect→request→close loops' : 'keep-alive connections'} · pipeline ${g.pipeline} · ${formatDuration(g.durationMs)} measured per repetition · load: ${esc(g.loadTool)}</p>
${problems.length === 0 ? '' : `<ul>${problems.map((r) => `<li class="${r.status === 'ok' ? 'muted' : 'bad'}">${esc(r.target)}: ${esc(r.status === 'ok' ? '' : `${r.status.toUpperCase()}${r.reason === null ? '' : ` — ${r.reason}`}`)}${r.generatorSaturated ? esc(`${r.status === 'ok' ? '' : '; '}load generator saturated (the number is a lower bound)`) : ''}${r.warnings.length > 0 ? esc(`${r.status === 'ok' && !r.generatorSaturated ? '' : '; '}warnings: ${r.warnings.join('; ')}`) : ''}</li>`).join('')}</ul>`}
${g.fixedRate === null ? '' : `<p class="note">Fixed rate (open loop): every target got ${g.fixedRate.requestsPerSec === null ? 'the same rate' : `${formatRate(g.fixedRate.requestsPerSec)} req/s`}${g.fixedRate.basis === null ? '' : ` — ${esc(g.fixedRate.basis)}`}. Latencies here are compared at equal load and measured from each request's intended send time (corrected for coordinated omission).</p>`}
<div class="charts">${charts.join('\n')}</div>
<h4>Speed</h4>
${table(speedHead, speed, 'compact')}
<h4>What it costs</h4>
${table(costHead, cost, 'compact')}
${extras.join('\n')}
</details>`
}

/** The whole report as one self-contained HTML page. */
export function renderReportHtml (model: ReportModel): string {
  const counts = Object.entries(model.totals.byStatus).map(([k, n]) => `${n} ${k}`).join(', ')
  const incomplete = model.runs.filter((r) => !r.complete)
  const parts: string[] = []
  parts.push(`<header><h1>${esc(model.title)}</h1>
<p class="meta">${model.runs.map((r) => `${esc(r.suite)} · ${esc(r.startedAt)} · ${formatDuration(r.durationMs)}${r.environment.commit === null ? '' : ` · commit ${esc(r.environment.commit.slice(0, 12))}${r.environment.dirty === true ? '+' : ''}`}`).join('<br>')}<br>${model.totals.scenarios} scenario(s): ${esc(counts)}</p></header>`)
  if (incomplete.length > 0) parts.push(`<div class="banner">Incomplete run${incomplete.length > 1 ? 's' : ''}: ${incomplete.map((r) => `${esc(r.suite)} (${esc(r.interrupted ?? 'interrupted')})`).join(', ')} — partial results.</div>`)
  if (model.problems.length > 0) {
    parts.push(`<div class="banner bad"><strong>${model.problems.length} scenario(s) not ok:</strong><ul>${model.problems.map((p) => `<li>${esc(p.group)} @ ${esc(p.target)}: <span class="status-${esc(p.status)}">${esc(p.status.toUpperCase())}</span>${p.reason === null ? '' : ` — ${esc(p.reason)}`}</li>`).join('')}</ul></div>`)
  }
  parts.push('<h2 id="wins">Which model wins where</h2>', matrixTable(model))
  parts.push('<h2>Verdicts</h2>', verdictTable(model.verdicts))
  parts.push(`<div class="note"><strong>Note:</strong> ${esc(EVENT_LOOP_NOTE)}</div>`)
  parts.push('<h2>Summary</h2>', summaryTable(model))
  if (showsFork(model)) parts.push(`<p class="note"><strong>fork and fork-reuse:</strong> ${esc(forkNote(model))}</p>`)
  parts.push('<p class="muted">Medians over repetitions, which run in rounds (every scenario once per round) so that drifts of the machine hit every target alike. CV: the spread of req/s over the repetitions (stdev ÷ mean). vs peer: this target\'s median req/s ÷ the fastest peer\'s that ran ok in the same group. p99: the median over repetitions of each repetition\'s 99th percentile. processes, threads: the whole server process tree, median over repetitions of the most seen at once under load. server CPU: % of one core, all its processes and threads. req per server CPU-s: requests served per second of server CPU (all processes and threads): where the load generator saturated, the verdicts rank by it. PSS per conn.: (mean PSS of the whole process tree under load − idle PSS) ÷ connections (RSS where PSS is unreadable; keep-alive only).</p>')
  parts.push('<h2>Scenarios</h2><p class="muted">One folded section per scenario: charts, then speed and cost tables. The first is open.</p>', ...model.groups.map((g, i) => groupDetail(g, i === 0)))
  parts.push('<h2>Environment</h2>', ...model.runs.map((r) => `${model.runs.length > 1 ? `<h3>run ${r.index + 1}: ${esc(r.suite)}</h3>` : ''}${environmentBlock(r)}`))
  parts.push(`<footer class="muted"><p>Units: req/s = completed, verified requests per second of the measured window; latency in ms (churn: connect → request → reply); memory in binary units (KiB = 1024 B); CPU in % of one core. Generated by echoplex from ${model.runs.length} results file(s); data as of ${esc(model.generatedAt)}.</p></footer>`)
  return page(model.title, parts.join('\n'))
}

// ---------------------------------------------------------------- compare

const CHANGE_CLASS: Record<Change, string> = {
  improvement: 'improvement',
  regression: 'regression',
  'no significant change': 'same',
  'too few repetitions': 'na',
  'not comparable': 'na',
  'newly failed': 'newly-failed',
  fixed: 'fixed',
}

function changeChart (c: Comparison): string | null {
  // untested changes are left out: a bar would read as a finding
  const rows = c.rows.filter((r) => r.throughput.changePct !== null && r.change !== 'not comparable' && r.change !== 'too few repetitions')
  if (rows.length === 0) return null
  return barChart({
    title: 'Throughput change, HEAD vs BASE',
    axisLabel: 'change of median req/s (%)',
    caption: 'green = significant improvement, red = significant regression, grey = within the noise',
    format: (v) => formatPct(v, Math.abs(v) < 10 ? 1 : 0),
    width: 820,
    data: rows.map((r) => ({
      label: `${r.label} @ ${r.target}`,
      value: r.throughput.changePct,
      color: r.change === 'regression' || r.change === 'newly failed' ? '#d62728' : r.change === 'improvement' ? '#2ca02c' : '#9ca3af',
      failed: r.change === 'newly failed',
    })),
  })
}

function runLine (label: string, r: RunInfo): string {
  return `<dt>${esc(label)}</dt><dd>${esc(r.suite)} · ${esc(r.startedAt)} · commit ${esc(r.environment.commit?.slice(0, 12) ?? 'unknown')}${r.environment.dirty === true ? '+' : ''} · ${r.repetitions} repetition(s)${r.path === null ? '' : ` · <code>${esc(r.path)}</code>`}</dd>`
}

function compareRow (r: ComparedScenario): { cells: Cell[], cls?: string } {
  const x = compareCells(r)
  return {
    cls: CHANGE_CLASS[r.change],
    cells: [
      x.scenario,
      x.target,
      { html: `${esc(r.baseStatus === 'ok' ? '' : `[${r.baseStatus}] `)}${esc(x.base)}` },
      { html: `${esc(r.headStatus === 'ok' ? '' : `[${r.headStatus}] `)}${esc(x.head)}` },
      x.ratio,
      x.change,
      { html: `<span class="marker-${CHANGE_CLASS[r.change]}">${esc(x.result)}</span>` },
      x.p99,
      { html: esc(r.note === null ? x.test : x.test === '-' ? r.note : `${x.test}; ${r.note}`), cls: 'wrap' },
    ],
  }
}

/** The comparison as one self-contained HTML page. */
export function renderCompareHtml (c: Comparison): string {
  const title = `echoplex compare: ${c.base.suite} → ${c.head.suite}`
  const parts: string[] = []
  parts.push(`<header><h1>${esc(title)}</h1><dl class="env">${runLine('BASE', c.base)}${runLine('HEAD', c.head)}</dl></header>`)
  if (c.failOnRegressionPct !== null) {
    parts.push(c.gate.failed
      ? `<div class="banner bad"><strong>FAIL</strong>: significant regression beyond ${c.failOnRegressionPct}%<ul>${c.gate.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul></div>`
      : `<div class="banner good"><strong>pass</strong>: no significant regression beyond ${c.failOnRegressionPct}%</div>`)
  }
  if (c.environmentDiffers.length > 0) {
    parts.push(`<div class="banner">The runs come from different environments; differences may be the machine's, not the code's: ${esc(c.environmentDiffers.map((d) => `${d.field} ${d.base} → ${d.head}`).join('; '))}</div>`)
  }
  const counts = (Object.keys(c.counts) as Change[]).filter((k) => c.counts[k] > 0).map((k) => `${c.counts[k]} ${MARKERS[k]} ${k}`).join(', ')
  parts.push(`<p>${c.rows.length} scenario(s) matched by id${counts === '' ? '' : `: ${esc(counts)}`}.</p>`)
  if (c.tooFew !== null) parts.push(`<div class="banner">${esc(c.tooFew)}</div>`)
  const drift = driftLine(c)
  if (drift !== null) parts.push(`<p class="note">${esc(drift)}</p>`)
  parts.push(`<p class="note"><strong>Test.</strong> ${esc(c.method)} Markers: ${(Object.keys(MARKERS) as Change[]).map((k) => `${MARKERS[k]} ${k}`).join(', ')}. Throughput decides the result; p99 latency is tested the same way (▲/▼ beside it).</p>`)
  parts.push(table(['scenario', 'target', { text: 'BASE req/s', num: true }, { text: 'HEAD req/s', num: true }, { text: 'ratio', num: true }, { text: 'change', num: true }, 'result', 'p99 ms BASE → HEAD', 'test'], c.rows.map(compareRow)))
  const chart = changeChart(c)
  if (chart !== null) parts.push(`<div class="charts">${chart}</div>`)
  const side = (label: string, xs: Comparison['onlyInBase']): string => xs.length === 0
    ? ''
    : `<h2>Only in ${label} (${xs.length})</h2>${table(['scenario', 'target', 'status'], xs.map((s) => ({ cells: [s.label, s.target, statusCell(s.status)] })))}`
  parts.push(side('BASE', c.onlyInBase), side('HEAD', c.onlyInHead))
  return page(title, parts.join('\n'))
}

