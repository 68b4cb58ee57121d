import t from 'tap'
import { readResults, summarizeRepetitions, validateResults, type FlameNode, type Results, type Timeline } from '@echoplex/results'
import { buildReport, renderReportHtml, renderReportMarkdown } from '../src/index.js'
import { flameGraph, hottestFrames } from '../src/flame.js'
import { EFFICIENCY_HEAD } from '../src/efficiency.js'
import { winMatrix } from '../src/matrix.js'
import { BASE, clone } from './fixtures/synthetic.js'

const base = readResults(BASE)

const ECHO = 'echo:event-loop:64B:c8:keep-alive'

function timeline (rps: number): Timeline {
  return {
    intervalMs: 1000,
    origin: 1_700_000_000_000,
    warmupMs: 500,
    points: [
      { t: -1000, rssBytes: 40e6, cpuPercent: 3, processes: 1 },
      { t: 0, requestsPerSec: rps * 0.7, p99Ms: 4, rssBytes: 50e6, cpuPercent: 90, processes: 1 },
      { t: 1000, requestsPerSec: rps, p99Ms: 1.5, rssBytes: 52e6, cpuPercent: 99, processes: 1 },
      { t: 2000, requestsPerSec: rps * 0.2, p99Ms: 30, rssBytes: 52e6, cpuPercent: 97, processes: 1 },
    ],
  }
}

const node = (name: string, where: string, total: number, self: number, children: FlameNode[] = []): FlameNode => ({ name, where, total, self, children })
const FLAME = node('all', '', 1000, 0, [
  node('primary', '', 600, 0, [node('postTask', 'node_modules/piscina/dist/index.js:300', 400, 350, [node('(garbage collector)', '', 50, 50)]), node('onStreamRead', 'node:internal/stream_base_commons:168', 200, 200)]),
  node('primary worker threads', '', 400, 0, [node('atomicsWaitLoop', 'node_modules/piscina/dist/worker.js:126', 400, 400)]),
])

function enriched (): Results {
  const r = clone(base)
  r.schemaVersion = 2
  r.environment.pinning = { mode: 'auto', serverCpus: '0', loadCpus: '1', method: 'taskset', note: null }
  for (const s of r.scenarios) {
    for (const rep of s.repetitions) {
      rep.timeline = timeline(rep.load?.throughput.requestsPerSec ?? 0)
      if (s.id === ECHO) rep.profile = { dir: 'x.profiles/echo_event-loop/rep-1', files: [{ file: 'CPU.1.2.100.0.001.cpuprofile', pid: 100, thread: 0, bytes: 1234, role: 'primary' }], flame: FLAME, note: null }
    }
  }
  return r
}

t.test('results of schemaVersion 1 still read and render, saying what they did not record', async (t) => {
  t.equal(base.schemaVersion, 1)
  const html = renderReportHtml(buildReport([base]))
  t.match(html, /CPU pinning<\/dt><dd>not recorded \(results written before pinning existed\)/)
  t.notMatch(html, /class="chart time-chart"/, 'no timeline without data')
  t.notMatch(html, /class="chart flame"/)
})

t.test('timelines, flame graphs, efficiency and pinning in the report', async (t) => {
  const r = enriched()
  t.equal(validateResults(r), null, 'the enriched results validate (schemaVersion 2)')
  const model = buildReport([r])
  const html = renderReportHtml(model)
  t.match(html, /CPU pinning<\/dt><dd>server tree on CPU 0, load generator on CPU 1 \(automatic split, taskset\)/)
  t.equal((html.match(/class="chart time-chart"/g) ?? []).length, model.groups.length * 4, 'four timeline charts per group')
  t.match(html, /<title>warmup \(not measured\)<\/title>/)
  t.equal((html.match(/class="chart flame"/g) ?? []).length, 1, 'a flame graph for the profiled target')
  t.match(html, /CPU profile — event-loop \(1000 samples\)/)
  t.match(html, /postTask \(node_modules\/piscina\/dist\/index\.js:300\) — 40\.0% of samples/, 'a frame says its share on hover')
  t.match(html, /Chrome DevTools/)
  t.match(html, /speedscope/)
  t.notMatch(html, /<script/i, 'no script')
  t.notMatch(html, /(src|href)="https?:/, 'nothing fetched')
  t.equal(renderReportHtml(buildReport([r])), html, 'deterministic')
  // efficiency right beside req/s in the summary
  const head = /<h2>Summary<\/h2>.*?<thead><tr>(.*?)<\/tr>/s.exec(html)![1]!
  t.match(head, new RegExp(`req/s <span class="unit">\\(median of \\d+\\)</span></th><th class="num">${EFFICIENCY_HEAD}</th>`))
  const md = renderReportMarkdown(model)
  t.match(md, /CPU pinning: server tree on CPU 0, load generator on CPU 1/)
  t.match(md, /## CPU profiles/)
  t.match(md, /`atomicsWaitLoop` 40\.0%, `postTask` 35\.0%, `onStreamRead` 20\.0%/)
})

t.test('flame graph: widths are shares of the samples, deeper frames below', async (t) => {
  const svg = flameGraph(FLAME, { title: 'x', width: 1000 })
  const rect = (name: string): { x: number, y: number, w: number } => {
    const m = new RegExp(`<title>${name.replace(/[()]/g, '\\$&')}[^<]*</title><rect x="([\\d.]+)" y="(\\d+)" width="([\\d.]+)"`).exec(svg)!
    return { x: Number(m[1]), y: Number(m[2]), w: Number(m[3]) }
  }
  t.equal(rect('primary').w, 599.5)
  t.equal(rect('primary worker threads').x, 600)
  t.ok(rect('postTask').y > rect('primary').y && rect('(garbage collector)').y > rect('postTask').y, 'callees below callers')
  t.equal(rect('postTask').w, 399.5)
  t.same(hottestFrames(FLAME, 2).map((h) => h.name), ['atomicsWaitLoop', 'postTask'])
})

t.test('verdicts: where the generator saturated, requests per server CPU-second rank the models', async (t) => {
  const plain = buildReport([base]).verdicts.find((v) => v.category === 'io')!
  t.equal(plain.winner?.target, 'event-loop', 'by req/s')
  const r = clone(base)
  for (const s of r.scenarios.filter((x) => x.group === 'echo:64B:c8:keep-alive' && x.target.kind === 'model')) {
    for (const rep of s.repetitions) {
      rep.derived!.generatorSaturated = true
      if (s.target.label === 'fork') rep.derived!.requestsPerCpuSec = 200_000 + rep.repetition
    }
    s.summary = summarizeRepetitions(s.repetitions)
  }
  const v = buildReport([r]).verdicts.find((x) => x.category === 'io')!
  t.equal(v.winner?.target, 'fork', 'by requests per server CPU-second')
  t.match(v.notes.join('\n'), /ranked by requests per server CPU-second \(not req\/s\) in echo 64B c8 keep-alive/)
})

t.test('fixed-rate groups: labelled, their rate explained, kept out of the throughput verdicts', async (t) => {
  const r = clone(base)
  r.schemaVersion = 2
  const extra = r.scenarios.filter((s) => s.group === 'echo:64B:c8:keep-alive').map((s) => ({
    ...clone(s),
    id: `${s.id}@fixed-rate`,
    group: 'echo:64B:c8:keep-alive@fixed-rate',
    fixedRate: { of: 'echo:64B:c8:keep-alive', fraction: 0.5 },
    rate: { requestsPerSec: 5108, basis: '50 % of the slowest model\'s closed-loop median (fork: 10217 req/s in echo:64B:c8:keep-alive)' },
    comparison: null,
  }))
  r.scenarios.push(...extra)
  t.equal(validateResults(r), null)
  const model = buildReport([r])
  const g = model.groups.find((x) => x.fixedRate !== null)!
  t.equal(g.label, 'echo 64B c8 keep-alive at a fixed rate')
  t.notOk(model.verdicts.some((v) => v.basis.includes(g.label)), 'not a basis of any verdict')
  t.match(renderReportHtml(model), /Fixed rate \(open loop\): every target got 5,108 req\/s — 50 % of the slowest model/)
})

t.test('the win matrix ranks a fixed-rate row by p99, not by the req/s every target shares', async (t) => {
  const r = clone(base)
  r.schemaVersion = 2
  const closed = r.scenarios.filter((s) => s.group === 'echo:64B:c8:keep-alive' && s.target.kind === 'model' && s.status === 'ok')
  // the slowest model at full speed gets the lowest p99 at the fixed rate: a ranking by req/s would not pick it
  const bySpeed = [...closed].sort((a, b) => a.summary!.requestsPerSec!.median - b.summary!.requestsPerSec!.median)
  const p99Of = new Map(bySpeed.map((s, i) => [s.target.label, 2 + 3 * i]))
  r.scenarios.push(...closed.map((s) => {
    const f = { ...clone(s), id: `${s.id}@fixed-rate`, group: 'echo:64B:c8:keep-alive@fixed-rate', fixedRate: { of: 'echo:64B:c8:keep-alive', fraction: 0.5 }, rate: { requestsPerSec: 5108, basis: 'test' }, comparison: null }
    for (const rep of f.repetitions) if (rep.load !== null) { rep.load.throughput.requestsPerSec = 5108; rep.load.latency.p99 = p99Of.get(s.target.label)! }
    f.summary = summarizeRepetitions(f.repetitions)
    return f
  }))
  t.equal(validateResults(r), null)
  const model = buildReport([r])
  const m = winMatrix(model)
  const row = m.rows.find((x) => x.label.endsWith('at a fixed rate'))!
  const slowest = bySpeed[0]!.target.label
  const other = bySpeed[1]!.target.label
  t.equal(row.metric, 'p99')
  t.equal(row.winner, slowest, 'the lowest p99 wins')
  t.equal(row.cells[slowest]!.value, 2, 'a cell holds its median p99')
  t.equal(row.cells[other]!.ratio, 2 / 5, 'and the best p99 ÷ its own')
  t.equal(row.margin, 5 / 2, 'the margin: the runner-up\'s p99 ÷ the winner\'s')
  t.equal(m.rows.find((x) => x.label === 'echo 64B c8 keep-alive')!.metric, 'throughput', 'closed-loop rows still rank by req/s')
  t.match(renderReportMarkdown(model), new RegExp(`\\| echo 64B c8 keep-alive at a fixed rate \\| \\*\\*${slowest}\\*\\* \\(2\\.50× the next\\) \\|`))
  t.match(renderReportMarkdown(model), /\*\*2\.00 ms p99\*\* \(1\.00×\)/)
})

t.test('the win matrix pairs each ratio by round: its range over the rounds two targets shared', async (t) => {
  const r = clone(base)
  r.schemaVersion = 2
  const group = r.scenarios.filter((s) => s.group === 'echo:64B:c8:keep-alive' && s.status === 'ok')
  const [a, b] = group.filter((s) => s.target.kind === 'model')
  const c = group.find((s) => s.target.kind === 'peer')
  t.ok(a !== undefined && b !== undefined && c !== undefined, 'two models and a peer to pair')
  // req/s by round: b is half of a in rounds 1 and 2 and 0.6 of it in round 3 (a drifted down), so the
  // ratio of the medians (120 ÷ 200 = 0.6) is not the typical round's; the peer c shares only two rounds with a
  const rates: Array<[typeof a, Array<[number, number]>]> = [
    [a, [[1, 300], [2, 200], [3, 150]]],
    [b, [[1, 150], [2, 100], [3, 90], [4, 140]]],
    [c, [[2, 50], [3, 60], [5, 70]]],
  ]
  for (const [s, byRound] of rates) {
    const template = s!.repetitions.find((x) => x.load !== null)!
    s!.repetitions = byRound.map(([round, rps], i) => {
      const rep = clone(template)
      rep.repetition = i + 1
      rep.round = round
      rep.load!.throughput.requestsPerSec = rps
      return rep
    })
    s!.summary = summarizeRepetitions(s!.repetitions)
  }
  t.equal(validateResults(r), null)
  const model = buildReport([r])
  const row = winMatrix(model).rows.find((x) => x.label === 'echo 64B c8 keep-alive')!
  t.equal(row.winner, a!.target.label)
  t.equal(row.cells[a!.target.label]!.roundRatio, null, 'the best model has no ratio to itself')
  const paired = row.cells[b!.target.label]!
  t.equal(paired.ratio, 120 / 200, 'the ratio of the medians')
  t.same([paired.roundRatio!.n, paired.roundRatio!.min, paired.roundRatio!.median, paired.roundRatio!.max], [3, 0.5, 0.5, 0.6], 'per round: only the rounds both ran in (round 4 has no partner)')
  t.equal(row.cells[c!.target.label]!.roundRatio, null, 'two shared rounds are too few to show')
  const md = renderReportMarkdown(model)
  t.match(md, /\| 120 \(0\.60×; 0\.50–0\.60× over 3 rounds\) \|/)
  t.match(md, /that ratio's range over the rounds/)
  t.match(renderReportHtml(model), /<span class="sub rounds">0\.50–0\.60× over 3 rounds<\/span>/)
  // results that recorded no rounds (schemaVersion 1) show no range
  const old = winMatrix(buildReport([base])).rows
  t.ok(old.every((x) => Object.values(x.cells).every((cell) => cell.roundRatio === null)))
  t.notMatch(renderReportMarkdown(buildReport([base])), /over \d+ rounds/)
})
