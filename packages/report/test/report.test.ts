import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readResults, type Results, type ScenarioResult } from '@echoplex/results'
import {
  buildReport, FORK_NOTE, formatBytes, formatMs, formatRate, formatRatio, NOT_MEASURED, renderReportHtml, renderReportMarkdown, writeReport,
} from '../src/index.js'
import { BASE, FAILED_RUN, HEAD, without } from './fixtures/synthetic.js'

const base = readResults(BASE)
const failedRun = readResults(FAILED_RUN)

/** The median of the raw per-repetition numbers, recomputed here independently of the file's summary (rounded to 1e-6 as the runner's summaries are). */
function med (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
  return Math.round(m * 1e6) / 1e6
}
const rawRps = (s: ScenarioResult): number => med(s.repetitions.filter((r) => r.load !== null).map((r) => r.load!.throughput.requestsPerSec))
const rawP = (s: ScenarioResult, k: 'p50' | 'p90' | 'p99' | 'p999'): number => med(s.repetitions.map((r) => r.load!.latency[k]))
const scenario = (r: Results, id: string): ScenarioResult => r.scenarios.find((s) => s.id === id)!

t.test('the fixtures are real, valid results', async (t) => {
  for (const p of [BASE, HEAD, FAILED_RUN]) {
    const r = readResults(p)
    t.equal(r.suite.name, 'report-fixture')
    t.equal(r.suite.repetitions, 2)
    t.ok(r.scenarios.some((s) => s.target.kind === 'peer'), 'has a peer')
  }
  t.same(failedRun.scenarios.filter((s) => s.status === 'failed').map((s) => s.id), ['work:event-loop:64B:c8:keep-alive'])
})

t.test('buildReport: groups, medians with spread, ratios to the peer', async (t) => {
  const m = buildReport([base])
  t.same(m.groups.map((g) => g.label), ['echo 64B c8 keep-alive', 'echo 64B c8 churn', 'work 64B c8 keep-alive'])
  t.equal(m.totals.scenarios, base.scenarios.length)
  const echo = m.groups[0]!
  t.same(echo.rows.map((r) => [r.target, r.kind]), [['event-loop', 'model'], ['fork', 'model'], ['node-net', 'peer']])
  t.same(echo.peers, ['node-net'])
  for (const row of echo.rows) {
    const s = scenario(base, row.id)
    t.equal(row.throughput!.median, rawRps(s), `${row.target}: median req/s`)
    const vals = s.repetitions.map((r) => r.load!.throughput.requestsPerSec)
    t.equal(row.throughput!.min, Math.min(...vals))
    t.equal(row.throughput!.max, Math.max(...vals))
  }
  const peer = rawRps(scenario(base, 'echo:node-net:64B:c8:keep-alive'))
  const el = echo.rows.find((r) => r.target === 'event-loop')!
  t.ok(Math.abs(el.peerRatios[0]!.ratio! - rawRps(scenario(base, 'echo:event-loop:64B:c8:keep-alive')) / peer) < 1e-6, 'ratio = median ÷ peer median')
  t.equal(echo.rows.find((r) => r.target === 'node-net')!.peerRatios[0]!.ratio, 1)
  // the work group has no peer (peers only run echo workloads)
  t.same(m.groups[2]!.peers, [])
  t.same(m.groups[2]!.rows[0]!.peerRatios, [])
  // fork: more processes than the event loop, and a connect → first byte time (its spawn wait)
  const fork = echo.rows.find((r) => r.target === 'fork')!
  t.ok(fork.processes!.median > el.processes!.median, 'fork runs more processes')
  t.ok(fork.connectP50Ms !== null && fork.connectP50Ms.median > 0)
  t.ok(fork.pssPerConnection !== null)
  t.equal(m.groups[1]!.rows[0]!.pssPerConnection, null, 'churn: no per-connection memory')
})

t.test('verdicts come from the data, with the margin over the runner-up', async (t) => {
  const m = buildReport([base])
  const [io, cpu, churn, mem] = m.verdicts
  t.same(m.verdicts.map((v) => v.category), ['io', 'cpu', 'churn', 'memory'])
  const best = (workload: string, mode: string): [string, number, string, number] => {
    const xs = base.scenarios.filter((s) => s.workload.name === workload && s.mode === mode && s.target.kind === 'model')
      .map((s) => [s.target.label, rawRps(s)] as const).sort((a, b) => b[1] - a[1])
    return [xs[0]![0], xs[0]![1], xs[1]![0], xs[1]![1]]
  }
  for (const [v, w, mode] of [[io!, 'echo', 'keep-alive'], [cpu!, 'work', 'keep-alive'], [churn!, 'echo', 'churn']] as const) {
    const [win, wv, run, rv] = best(w, mode)
    t.equal(v.measured, true)
    t.equal(v.winner!.target, win, `${v.category}: winner`)
    t.equal(v.runnerUp!.target, run, `${v.category}: runner-up`)
    t.ok(Math.abs(v.marginRatio! - wv / rv) < 1e-6, `${v.category}: margin = winner ÷ runner-up`)
    t.match(v.summary, new RegExp(`^${win} wins: ${formatRatio(wv / rv).replace('.', '\\.')} the runner-up`))
  }
  t.equal(mem!.measured, true)
  t.ok(mem!.winner!.value <= mem!.runnerUp!.value, 'memory: the lowest per-connection bytes wins')
  t.equal(mem!.basis.length, 2, 'memory: both keep-alive groups')

  // a run without churn (and without work) says so
  const noChurn = buildReport([without(base, (s) => s.mode === 'churn' || s.workload.name === 'work')])
  t.equal(noChurn.verdicts[1]!.summary, NOT_MEASURED)
  t.equal(noChurn.verdicts[2]!.summary, NOT_MEASURED)
  t.match(renderReportMarkdown(noChurn), /\| Connection churn \(new connection per request\) \| not measured in this run \|/)

  // a failed model is not ranked but named
  const f = buildReport([failedRun]).verdicts[1]!
  t.equal(f.winner!.target, 'fork')
  t.equal(f.runnerUp, null)
  t.ok(f.notes.some((n) => /event-loop not ranked in work 64B c8 keep-alive: failed/.test(n)))
})

t.test('HTML and Markdown show the input\'s numbers', async (t) => {
  const m = buildReport([base])
  const html = renderReportHtml(m)
  const md = renderReportMarkdown(m)
  for (const s of base.scenarios) {
    const rps = formatRate(rawRps(s))
    t.ok(html.includes(`>${rps}<`), `HTML: ${s.id} median ${rps}`)
    t.ok(md.includes(`| ${rps} |`), `MD: ${s.id} median ${rps}`)
    for (const k of ['p50', 'p90', 'p99', 'p999'] as const) {
      t.ok(md.includes(`| ${formatMs(rawP(s, k))} |`), `MD: ${s.id} ${k}`)
      t.ok(html.includes(`>${formatMs(rawP(s, k))}<`), `HTML: ${s.id} ${k}`)
    }
  }
  const peer = rawRps(scenario(base, 'echo:node-net:64B:c8:keep-alive'))
  const ratio = formatRatio(rawRps(scenario(base, 'echo:fork:64B:c8:keep-alive')) / peer)
  t.ok(html.includes(`>${ratio}<`), `HTML: fork vs node-net ${ratio}`)
  t.ok(md.includes(`| ${ratio} |`), `MD: fork vs node-net ${ratio}`)
  const pss = formatBytes(scenario(base, 'echo:fork:64B:c8:keep-alive').summary!.pssPerConnectionBytes!.median)
  t.ok(html.includes(pss) && md.includes(pss), `PSS per connection ${pss}`)

  // environment block
  for (const s of [base.environment.cpuModel, base.environment.kernel, base.environment.node, base.environment.commit!]) t.ok(html.includes(s), `environment: ${s}`)
  t.match(html, /cannot pre-empt a handler that never returns/)
  t.match(md, /cannot pre-empt a handler that never returns/)
  t.match(md, /^## Verdicts$/m)
  t.match(md, /^\| category \| winner \| margin \| runner-up \|/m)
  t.notMatch(md, /<[a-z]+[ >]/, 'plain Markdown: no HTML tags')
})

t.test('the run\'s notes (what pinning took from a cluster or pool, a peer not built) are in both reports', async (t) => {
  const note = 'CPU pinning: the server tree is pinned to CPU 0: cluster (2 workers) ran on it'
  const m = buildReport([{ ...base, notes: [note, 'peer c-epoll: no C compiler'] }])
  const md = renderReportMarkdown(m)
  t.ok(md.includes(`  - note: ${note}`), 'markdown')
  t.ok(md.includes('  - note: peer c-epoll: no C compiler'), 'markdown: each note on its line')
  t.ok(renderReportHtml(m).includes(note), 'html')
  t.notMatch(renderReportMarkdown(buildReport([{ ...base, notes: [] }])), /^ {2}- note: /m, 'none without notes')
})

t.test('a report with a fork target says in one sentence what strict fork and fork-reuse are', async (t) => {
  const m = buildReport([base])
  t.match(FORK_NOTE, /ForkingMixIn/)
  t.match(FORK_NOTE, /prefork/)
  t.ok(renderReportMarkdown(m).includes(FORK_NOTE), 'markdown')
  t.ok(renderReportHtml(m).includes(FORK_NOTE.replace(/'/g, '&#39;')), 'html')
  const noFork = buildReport([without(base, (s) => s.target.name === 'fork')])
  t.notOk(renderReportMarkdown(noFork).includes(FORK_NOTE), 'not without a fork target')
})

t.test('HTML is self-contained, with non-empty SVG charts, and deterministic', async (t) => {
  const m = buildReport([base])
  const html = renderReportHtml(m)
  t.match(html, /^<!doctype html>/)
  const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? []
  t.ok(svgs.length >= 2 * m.groups.length, `${svgs.length} charts`)
  for (const svg of svgs) {
    t.ok(/<(rect|path|circle)\b/.test(svg), 'chart has marks')
    t.match(svg, /<text[^>]*>[^<]*(req\/s|ms|bytes|KiB|MiB)[^<]*<\/text>/, 'axis label with unit')
  }
  // the memory chart's axis names the unit its ticks are in, and the ticks are plain numbers in it
  const memory = svgs.filter((svg) => /Memory per connection/.test(svg))
  t.ok(memory.length > 0, 'memory charts')
  for (const svg of memory) {
    const unit = /per connection under load, above idle \((bytes|KiB|MiB)\)<\/text>/.exec(svg)?.[1]
    t.ok(unit !== undefined, `axis unit ${unit}`)
    const ticks = [...svg.matchAll(/<text[^>]*text-anchor="middle" fill="#374151">([^<]*)<\/text>/g)].map((x) => x[1]!)
    t.ok(ticks.length >= 2 && ticks.every((x) => /^-?\d+(\.\d+)?$/.test(x)), `ticks are numbers in ${unit}: ${ticks.join(' ')}`)
  }
  t.equal((html.match(/class="chart line-chart"/g) ?? []).length, m.groups.length, 'a latency chart per group')
  t.notMatch(html, /src="http|href="http|src='http|href='http|url\(http|@import|<script[^>]+src=|<link[^>]+href=/i)
  t.equal(renderReportHtml(buildReport([readResults(BASE)])), html, 'same input, same bytes')
})

t.test('a failed scenario is marked, never hidden', async (t) => {
  const m = buildReport([failedRun])
  const html = renderReportHtml(m)
  const md = renderReportMarkdown(m)
  t.same(m.problems.map((p) => [p.group, p.target, p.status]), [['work 64B c8 keep-alive', 'event-loop', 'failed']])
  const row = m.groups[2]!.rows.find((r) => r.target === 'event-loop')!
  t.equal(row.status, 'failed')
  t.equal(row.mismatches, 16, 'mismatches summed over both repetitions')
  t.equal(row.latency.p50, null, 'no request completed: no latency shown')
  t.match(html, /<tr class="failed"><td>work 64B c8 keep-alive<\/td><td class="target">event-loop<\/td><td><span class="status-failed">FAILED<\/span>/)
  t.match(html, /1 scenario\(s\) not ok/)
  t.match(html, /FAILED — 2\/2 repetition\(s\) failed: 8 mismatched replies/)
  t.match(html, /FAILED<\/text>/, 'marked in the chart too')
  t.match(md, /- \*\*FAILED\*\* work 64B c8 keep-alive @ event-loop: 2\/2 repetition\(s\) failed: 8 mismatched replies/)
  t.match(md, /\| work 64B c8 keep-alive \| event-loop \| \*\*FAILED\*\* \|/)
  t.match(md, /8 scenario\(s\): 7 ok, 1 failed/)
})

t.test('several results files: one report, groups kept apart', async (t) => {
  const m = buildReport([base, readResults(HEAD)])
  t.equal(m.runs.length, 2)
  t.equal(m.groups.length, 6)
  t.equal(new Set(m.groups.map((g) => g.label)).size, 6, 'labels are distinct')
  t.match(m.groups[3]!.label, /\(report-fixture #2\)$/)
  const html = renderReportHtml(m)
  t.match(html, /run 2: report-fixture/)
})

t.test('writeReport writes report.html and report.md', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-report-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = writeReport([BASE], join(dir, 'nested', 'out'))
  t.same(out, { html: join(dir, 'nested', 'out', 'report.html'), md: join(dir, 'nested', 'out', 'report.md') })
  t.ok(existsSync(out.html) && existsSync(out.md))
  t.ok(readFileSync(out.html, 'utf8').includes(BASE), 'names its input')
  t.throws(() => writeReport([join(dir, 'nope.json')], dir), { name: 'ResultsError', message: /nope\.json: no such file/ })
})

t.test('a run with a warm-up until steady: the report says how many repetitions settled, and which did not', async (t) => {
  const r = structuredClone(base)
  for (const w of r.suite.workloads) w.steadyWarmupMs = 20_000
  for (const s of r.scenarios) {
    for (const rep of s.repetitions) rep.steadyWarmup = s.target.label === 'fork' ? { steps: [10, 20, 15], steady: false, ms: 20_000 } : { steps: [900, 1000, 1010, 990], steady: true, ms: 4000 }
  }
  const ran = new Map(buildReport([r]).runs[0]!.ran)
  const row = ran.get('warm-up until steady')
  const reps = r.scenarios.flatMap((s) => s.repetitions)
  const settled = r.scenarios.filter((s) => s.target.label !== 'fork').flatMap((s) => s.repetitions).length
  t.match(row, new RegExp(`at most 20 s\\): ${settled} of ${reps.length} repetitions settled; not settled: fork$`))
  t.notOk(new Map(buildReport([base]).runs[0]!.ran).has('warm-up until steady'), 'absent from a run without one')
  t.match(renderReportHtml(buildReport([r])), /warm-up until steady/)
})

t.test('fork-reuse measured without a warm-up until steady: the fork note says its figures are for cold children', async (t) => {
  const { FORK_REUSE_COLD_NOTE } = await import('../src/index.js')
  const cold = structuredClone(base)
  for (const s of cold.scenarios) if (s.target.name === 'fork') s.target.name = 'fork-reuse'
  t.ok(renderReportMarkdown(buildReport([cold])).includes(FORK_REUSE_COLD_NOTE), 'said for a cold fork-reuse')
  const warm = structuredClone(cold)
  for (const w of warm.suite.workloads) w.steadyWarmupMs = 20_000
  for (const s of warm.scenarios) for (const rep of s.repetitions) rep.steadyWarmup = { steps: [1, 1, 1], steady: true, ms: 3000 }
  t.notOk(renderReportMarkdown(buildReport([warm])).includes(FORK_REUSE_COLD_NOTE), 'not when the run warmed until steady')
  t.notOk(renderReportMarkdown(buildReport([base])).includes(FORK_REUSE_COLD_NOTE), 'not without a fork-reuse target')
})

t.test('strict fork run with NODE_EXTRA_CA_CERTS set: the fork note says Node before 22 parses it at every start, and the environment shows it', async (t) => {
  const { EXTRA_CA_CERTS_NOTE } = await import('../src/index.js')
  const certs = structuredClone(base)
  certs.environment.nodeExtraCaCerts = '/etc/ssl/certs/ca-certificates.crt'
  t.ok(base.scenarios.some((s) => s.target.name === 'fork'), 'the fixture has a strict fork target')
  t.ok(renderReportMarkdown(buildReport([certs])).includes(EXTRA_CA_CERTS_NOTE), 'said when it was set')
  t.match(renderReportHtml(buildReport([certs])), /<dt>NODE_EXTRA_CA_CERTS<\/dt><dd>\/etc\/ssl\/certs\/ca-certificates\.crt/)
  t.notOk(renderReportMarkdown(buildReport([base])).includes(EXTRA_CA_CERTS_NOTE), 'not when it was not')
  const reuseOnly = structuredClone(certs)
  for (const s of reuseOnly.scenarios) if (s.target.name === 'fork') s.target.name = 'fork-reuse'
  t.notOk(renderReportMarkdown(buildReport([reuseOnly])).includes(EXTRA_CA_CERTS_NOTE), 'not without a strict fork target')
})
