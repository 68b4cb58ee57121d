import t from 'tap'
import { readResults } from '@echoplex/results'
import {
  compareResults, formatCompareTable, formatPct, formatRate, mannWhitneyP, noiseTest, renderCompareHtml, renderCompareMarkdown,
} from '../src/index.js'
import { BASE, HEAD, markFailed, scaleThroughput, steadiest, without } from './fixtures/synthetic.js'

const base = readResults(BASE)
const head = readResults(HEAD)

t.test('the stated test: exact Mann–Whitney p-values and the small-sample rule', async (t) => {
  // the smallest two-sided exact p is 2 / C(n+m, n)
  t.ok(Math.abs(mannWhitneyP([1, 2], [3, 4])! - 2 / 6) < 1e-12, '2 vs 2: 1/3')
  t.ok(Math.abs(mannWhitneyP([1, 2, 3], [4, 5, 6])! - 0.1) < 1e-12, '3 vs 3: 0.1')
  t.ok(Math.abs(mannWhitneyP([1, 2, 3, 4], [5, 6, 7, 8])! - 2 / 70) < 1e-12, '4 vs 4: 0.0286')
  t.equal(mannWhitneyP([5, 5, 5], [5, 5, 5]), 1, 'all tied: 1')
  t.ok(Math.abs(mannWhitneyP([1, 3, 5, 7], [2, 4, 6, 8])! - 0.6857142857) < 1e-9, 'interleaved: 48/70')
  t.equal(mannWhitneyP([], [1]), null)

  t.equal(noiseTest([100], [50]).method, 'none', 'one repetition: not testable')
  t.equal(noiseTest([100], [50]).significant, false)
  const halved = noiseTest([100, 102, 98], [50, 51, 49])
  t.same([halved.method, halved.significant, halved.disjoint], ['range+cv', true, true])
  t.equal(noiseTest([100, 102, 98], [98, 100, 96]).significant, false, '-2%: ranges overlap')
  t.equal(noiseTest([100, 100.1], [90, 90.1]).significant, true, 'tiny noise: a 10% drop counts')
  t.equal(noiseTest([100, 150], [60, 65]).significant, false, 'disjoint but within 2×CV')
  const mw = noiseTest([100, 101, 99, 100.5], [90, 91, 89, 90.5])
  t.same([mw.method, mw.significant], ['mann-whitney', true])
  t.ok(mw.pValue! < 0.05)
  t.equal(noiseTest([100, 90, 99, 91], [92, 101, 89, 98]).significant, false, 'mixed: p ≥ 0.05')
})

t.test('identical runs: no significant change anywhere', async (t) => {
  const c = compareResults(base, base, { failOnRegressionPct: 10 })
  t.equal(c.rows.length, base.scenarios.length)
  t.same(new Set(c.rows.map((r) => r.change)), new Set(['no significant change']))
  t.same(c.onlyInBase, [])
  t.same(c.onlyInHead, [])
  t.equal(c.gate.failed, false)
  for (const r of c.rows) t.equal(r.throughput.ratio, 1)
  t.same(c.environmentDiffers, [])
})

t.test('two real runs: matched by id, medians and ratio from each side', async (t) => {
  const c = compareResults(base, head)
  t.equal(c.rows.length, 8)
  for (const r of c.rows) {
    const b = base.scenarios.find((s) => s.id === r.id)!.summary!.requestsPerSec!.median
    const h = head.scenarios.find((s) => s.id === r.id)!.summary!.requestsPerSec!.median
    t.equal(r.throughput.base!.median, b)
    t.equal(r.throughput.head!.median, h)
    t.ok(Math.abs(r.throughput.ratio! - h / b) < 1e-12)
    t.equal(r.throughput.test!.method, 'range+cv', '2 repetitions a side')
  }
  const table = formatCompareTable(c)
  t.match(table, /^scenario\s+target\s+BASE req\/s\s+HEAD req\/s\s+ratio\s+change\s+result/)
  t.match(table, /test: With ≥ 4 repetitions on both sides: exact two-sided Mann–Whitney U test/)
})

t.test('HEAD with one scenario\'s throughput halved: a significant regression', async (t) => {
  const s = steadiest(base)
  t.ok(s.summary!.requestsPerSec!.cv < 0.2, `${s.id}: CV ${s.summary!.requestsPerSec!.cv} leaves room for the test`)
  const halved = scaleThroughput(base, s.id, 0.5)
  const c = compareResults(base, halved, { failOnRegressionPct: 10 })
  const row = c.rows.find((r) => r.id === s.id)!
  t.equal(row.change, 'regression')
  t.equal(row.marker, '▼')
  t.ok(Math.abs(row.throughput.ratio! - 0.5) < 1e-6)
  t.equal(row.throughput.test!.significant, true)
  t.equal(row.failsGate, true)
  t.equal(c.gate.failed, true)
  t.match(c.gate.reasons[0], new RegExp(`${row.label} @ ${row.target}: -50\\.0% req/s \\(significant; limit -10%\\)`))
  t.same(c.rows.filter((r) => r.id !== s.id).map((r) => r.change), Array(c.rows.length - 1).fill('no significant change'), 'nothing else flagged')
  t.equal(compareResults(base, halved, { failOnRegressionPct: 60 }).gate.failed, false, 'a 50% drop does not exceed a 60% limit')
  t.equal(compareResults(base, halved).gate.failed, false, 'no limit: no gate')

  // and the other way round it is an improvement
  const back = compareResults(halved, base).rows.find((r) => r.id === s.id)!
  t.equal(back.change, 'improvement')

  const md = renderCompareMarkdown(c)
  const html = renderCompareHtml(c)
  const cells = [formatRate(row.throughput.base!.median), formatRate(row.throughput.head!.median), '0.50×', formatPct(-50)]
  t.match(md, new RegExp(`\\| ${row.label} \\| ${row.target} \\| ${cells.join(' \\| ').replace(/\./g, '\\.')} \\| \\*\\*▼ regression\\*\\* \\|`))
  t.match(md, /\*\*FAIL\*\*: significant regression beyond 10%/)
  t.match(html, /<tr class="regression">/)
  t.match(html, /FAIL<\/strong>: significant regression beyond 10%/)
  t.match(html, /<svg[^>]*class="chart bar-chart"[\s\S]*<rect[\s\S]*<\/svg>/, 'a change chart')
  t.notMatch(html, /src="http|href="http|src='http|href='http|url\(http|<script[^>]+src=/i)
})

t.test('HEAD scaled by 0.98: within the noise, not flagged', async (t) => {
  const s = steadiest(base)
  const c = compareResults(base, scaleThroughput(base, s.id, 0.98), { failOnRegressionPct: 1 })
  const row = c.rows.find((r) => r.id === s.id)!
  t.equal(row.change, 'no significant change')
  t.equal(row.throughput.test!.significant, false)
  t.equal(c.gate.failed, false)
})

t.test('scenarios on one side only are listed; a new failure fails the gate', async (t) => {
  const s = steadiest(base)
  const gone = 'echo:node-net:64B:c8:churn'
  const h = without(markFailed(base, s.id), (x) => x.id === gone)
  const c = compareResults(base, h, { failOnRegressionPct: 50 })
  t.same(c.onlyInBase.map((x) => [x.id, x.target, x.status]), [[gone, 'node-net', 'ok']])
  t.same(c.onlyInHead, [])
  const row = c.rows.find((r) => r.id === s.id)!
  t.equal(row.change, 'newly failed')
  t.equal(row.failsGate, true)
  t.equal(c.gate.failed, true)
  t.match(formatCompareTable(c), /only in BASE \(1\): echo 64B c8 churn @ node-net \[ok\]/)
  t.match(renderCompareMarkdown(c), /\*\*Only in BASE\*\* \(1\):\n\n- echo 64B c8 churn @ node-net \(ok\)/)
  t.match(renderCompareHtml(c), /<h2>Only in BASE \(1\)<\/h2>/)

  const fixed = compareResults(h, base)
  t.equal(fixed.rows.find((r) => r.id === s.id)!.change, 'fixed')
  t.same(fixed.onlyInHead.map((x) => x.id), [gone])
})

t.test('different handler options are not compared as a change', async (t) => {
  const h = JSON.parse(JSON.stringify(base)) as typeof base
  const s = h.scenarios.find((x) => x.workload.name === 'work')!
  s.workload.options = { rounds: '200' }
  const row = compareResults(base, h).rows.find((r) => r.id === s.id)!
  t.equal(row.change, 'not comparable')
  t.match(row.note, /different workload: handler options none → rounds=200/)
})
