/**
 * report.md and compare.md: plain Markdown (GitHub-flavoured tables, no HTML) for READMEs and pull
 * requests — the verdicts, the summary, what failed, and the environment.
 */
import { compareCells, driftLine, MARKERS, type Change, type Comparison } from './compare.js'
import { formatBytes, formatDuration, formatMs, formatRate, formatRatio, formatRoundRange, kindNote, mdTable } from './format.js'
import { EVENT_LOOP_NOTE, forkNote, showsFork } from './html.js'
import type { ReportModel, RunInfo, TargetRow } from './model.js'
import { hasRoundRanges, matrixValue, winMatrix } from './matrix.js'
import { EFFICIENCY_HEAD, efficiencyCell } from './efficiency.js'
import { hottestFrames, OPEN_PROFILE_HOWTO } from './flame.js'
import { pinningLine } from './pinning-line.js'

function envLine (r: RunInfo): string {
  const e = r.environment
  return `${e.cpuModel}, ${e.cores} CPU(s) (${e.availableParallelism} usable), ${formatBytes(e.memoryBytes)} RAM, ${e.os}, kernel ${e.kernel}, Node.js ${e.node}, ` +
    `load average ${e.loadAverage}, commit ${e.commit === null ? 'unknown' : `${e.commit.slice(0, 12)}${e.dirty === true ? ' (dirty)' : ''}`}, CPU pinning: ${pinningLine(e)}`
}

function ratioTo (r: TargetRow, peer: string): string {
  const pr = r.peerRatios.find((p) => p.peer === peer)
  return pr === undefined ? '-' : formatRatio(pr.ratio)
}

/** The report as Markdown. */
export function renderReportMarkdown (model: ReportModel): string {
  const out: string[] = [`# ${model.title}`, '']
  for (const r of model.runs) {
    out.push(`- **${r.suite}**: ${r.startedAt}, ${formatDuration(r.durationMs)}, ${r.repetitions} repetition(s)${r.complete ? '' : `, **INCOMPLETE** (${r.interrupted ?? 'interrupted'})`}`)
    out.push(`  - ${envLine(r)}`)
    const unavailable = r.peers.filter((p) => !p.available)
    if (unavailable.length > 0) out.push(`  - peers unavailable: ${unavailable.map((p) => `${p.name}${p.note === null ? '' : ` (${p.note})`}`).join('; ')}`)
    for (const note of r.notes) out.push(`  - note: ${note}`)
  }
  const counts = Object.entries(model.totals.byStatus).map(([k, n]) => `${n} ${k}`).join(', ')
  out.push('', `${model.totals.scenarios} scenario(s): ${counts}`, '')
  if (model.problems.length > 0) {
    out.push('**Not ok:**', '')
    for (const p of model.problems) out.push(`- **${p.status.toUpperCase()}** ${p.group} @ ${p.target}${p.reason === null ? '' : `: ${p.reason}`}`)
    out.push('')
  }
  const m = winMatrix(model)
  if (m.rows.length > 0) {
    out.push('## Which model wins where', '')
    const cols = [...m.models, ...m.peers]
    out.push(mdTable(['workload', 'winner', ...cols.map((c) => m.peers.includes(c) ? `${c} (peer)` : c)], m.rows.map((r) => [
      r.label,
      r.winner === null ? '-' : `**${r.winner}**${r.margin === null ? '' : ` (${formatRatio(r.margin)} the next)`}`,
      ...cols.map((c) => {
        const x = r.cells[c]
        if (x === undefined) return '-'
        if (x.value === null) return x.status === 'ok' ? '-' : `**${x.status.toUpperCase()}**`
        return `${x.best ? '**' : ''}${matrixValue(r, x.value)}${x.best ? '**' : ''} (${formatRatio(x.ratio)}${x.roundRatio === null ? '' : `; ${formatRoundRange(x.roundRatio)}`})`
      }),
    ])))
    out.push('', `Each cell: median req/s over the repetitions, and (its ratio to the best model of the row${hasRoundRanges(m) ? '; that ratio\'s range over the rounds, each taken between the two targets\' repetitions of one round, so the machine\'s drift over a run hits both alike' : ''}).${m.rows.some((r) => r.metric === 'p99') ? ' At a fixed rate every target serves the same req/s, so there a cell is its median p99 and (the best model\'s p99 ÷ its own): the lowest wins.' : ''}`, '')
  }
  out.push('## Verdicts', '')
  out.push(mdTable(['category', 'winner', 'margin', 'runner-up', 'lead beyond noise', 'best peer'], model.verdicts.map((v) => [
    v.title,
    v.winner === null ? v.summary : `**${v.winner.target}** (${v.category === 'memory' ? `${formatBytes(v.winner.value)} / conn` : `${formatRate(v.winner.value)} req/s`})`,
    v.winner === null ? '-' : v.margin,
    v.runnerUp?.target ?? '-',
    v.significantIn.of === 0 ? '-' : `${v.significantIn.groups} of ${v.significantIn.of} group(s)`,
    v.bestPeer === null ? '-' : `${v.bestPeer.target} (${v.category === 'memory' ? `${formatBytes(v.bestPeer.value)} / conn` : `${formatRate(v.bestPeer.value)} req/s`})`,
  ])))
  out.push('', `Throughput: ${model.verdicts[0]?.metric ?? ''}; memory: ${model.verdicts[3]?.metric ?? ''}. Only models are ranked; only scenarios with status ok count.`, '')
  out.push(`> **Note:** ${EVENT_LOOP_NOTE}`, '')
  out.push('## Summary', '')
  const peers: string[] = []
  for (const g of model.groups) for (const p of g.peers) if (!peers.includes(p)) peers.push(p)
  const rows = model.groups.flatMap((g) => g.rows.map((r) => [
    g.label,
    `${r.target}${kindNote(r.kind)}`,
    r.status === 'ok' ? 'ok' : `**${r.status.toUpperCase()}**`,
    formatRate(r.throughput?.median),
    efficiencyCell(r),
    r.throughput === null ? '-' : `${formatRate(r.throughput.min)} – ${formatRate(r.throughput.max)}`,
    ...peers.map((p) => ratioTo(r, p)),
    formatMs(r.latency.p50?.median),
    formatMs(r.latency.p90?.median),
    formatMs(r.latency.p99?.median),
    formatMs(r.latency.p999?.median),
    formatBytes(r.pssPerConnection?.median ?? r.rssPerConnection?.median),
    r.processes === null ? '-' : `${r.processes.median} / ${r.threads?.median ?? '-'}`,
    r.connectP50Ms === null ? '-' : formatMs(r.connectP50Ms.median),
    String(r.errors + r.mismatches),
  ]))
  out.push(mdTable(
    ['scenario', 'target', 'status', 'req/s', EFFICIENCY_HEAD, 'min – max', ...peers.map((p) => `vs ${p}`), 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'PSS / conn', 'procs / threads', 'connect → 1st byte p50 ms', 'errors + mismatches'],
    rows,
    ['l', 'l', 'l', 'r', 'r', ...peers.map(() => 'r' as const), 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  ))
  out.push('', 'Medians over repetitions. Ratios: median req/s ÷ the peer\'s in the same group. PSS / conn: (PSS of the whole process tree under load − idle) ÷ connections. connect → 1st byte: for the fork model, the spawn wait.', '')
  if (showsFork(model)) out.push(`**fork and fork-reuse:** ${forkNote(model)}`, '')
  const profiled = model.groups.flatMap((g) => g.rows.filter((r) => r.profile?.flame != null).map((r) => ({ g, r })))
  if (profiled.length > 0) {
    out.push('## CPU profiles', '')
    out.push(mdTable(['scenario', 'target', 'samples', 'hottest frames (self)', 'files'], profiled.map(({ g, r }) => [
      g.label,
      r.target,
      String(r.profile!.flame!.total),
      hottestFrames(r.profile!.flame!).map((h) => `\`${h.name}\` ${(h.share * 100).toFixed(1)}%`).join(', '),
      `\`${r.profile!.dir}\``,
    ])))
    out.push('', OPEN_PROFILE_HOWTO, '')
  }
  return `${out.join('\n')}\n`
}

/** The comparison as Markdown. */
export function renderCompareMarkdown (c: Comparison): string {
  const out: string[] = [`# echoplex compare: ${c.base.suite} → ${c.head.suite}`, '']
  const run = (label: string, r: RunInfo): string => `- **${label}**: ${r.suite}, ${r.startedAt}, commit ${r.environment.commit?.slice(0, 12) ?? 'unknown'}${r.environment.dirty === true ? ' (dirty)' : ''}, ${r.repetitions} repetition(s)${r.path === null ? '' : `, \`${r.path}\``}`
  out.push(run('BASE', c.base), run('HEAD', c.head), '')
  if (c.failOnRegressionPct !== null) {
    out.push(c.gate.failed
      ? `**FAIL**: significant regression beyond ${c.failOnRegressionPct}%:\n${c.gate.reasons.map((r) => `- ${r}`).join('\n')}`
      : `**pass**: no significant regression beyond ${c.failOnRegressionPct}%`, '')
  }
  if (c.environmentDiffers.length > 0) out.push(`> **Warning:** different environments: ${c.environmentDiffers.map((d) => `${d.field} ${d.base} → ${d.head}`).join('; ')}`, '')
  out.push(mdTable(
    ['scenario', 'target', 'BASE req/s', 'HEAD req/s', 'ratio', 'change', 'result', 'p99 ms BASE → HEAD', 'test'],
    c.rows.map((r) => {
      const x = compareCells(r)
      return [x.scenario, x.target, `${r.baseStatus === 'ok' ? '' : `[${r.baseStatus}] `}${x.base}`, `${r.headStatus === 'ok' ? '' : `[${r.headStatus}] `}${x.head}`, x.ratio, x.change,
        r.change === 'regression' || r.change === 'newly failed' || r.change === 'improvement' ? `**${x.result}**` : x.result, x.p99, r.note === null ? x.test : x.test === '-' ? r.note : `${x.test}; ${r.note}`]
    }),
    ['l', 'l', 'r', 'r', 'r', 'r', 'l', 'l', 'l'],
  ))
  const counts = (Object.keys(c.counts) as Change[]).filter((k) => c.counts[k] > 0).map((k) => `${c.counts[k]} ${MARKERS[k]} ${k}`).join(', ')
  out.push('', `${c.rows.length} matched${counts === '' ? '' : `: ${counts}`}.`, '')
  if (c.tooFew !== null) out.push(`**Note:** ${c.tooFew}`, '')
  const drift = driftLine(c)
  if (drift !== null) out.push(`**Note:** ${drift}`, '')
  for (const [label, xs] of [['BASE', c.onlyInBase], ['HEAD', c.onlyInHead]] as const) {
    if (xs.length === 0) continue
    out.push(`**Only in ${label}** (${xs.length}):`, '', ...xs.map((s) => `- ${s.label} @ ${s.target} (${s.status})`), '')
  }
  out.push(`**Test:** ${c.method}`, '')
  return `${out.join('\n')}\n`
}
