import t from 'tap'
import { readResults, summarizeRepetitions } from '@echoplex/results'
import {
  compareResults, formatCompareTable, formatPct, formatRate, mannWhitneyP, noiseTest, renderCompareHtml, renderCompareMarkdown,
} from '../src/index.js'
import { BASE, HEAD, markFailed, scaleThroughput, steadiest, withRepetitions, without } from './fixtures/synthetic.js'

// the recorded fixtures hold 2 repetitions a side: too few to test; the tests of the test use 3
const base2 = readResults(BASE)
const head2 = readResults(HEAD)
const base = withRepetitions(base2, 3)
const head = withRepetitions(head2, 3)

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
  const two = noiseTest([100, 100.1], [50, 50.1])
  t.same([two.method, two.significant, two.needRepetitions], ['none', false, 3], '2 vs 2: too few to tell, even for a halving')
  t.equal(two.why, 'too few repetitions to tell (2 vs 2): need ≥ 3 on each side (-r 3)')
  t.equal(noiseTest([100, 102, 98], [50, 51]).method, 'none', '3 vs 2: still too few')
  const halved = noiseTest([100, 102, 98], [50, 51, 49])
  t.same([halved.method, halved.significant, halved.disjoint], ['mann-whitney', true, true])
  t.ok(Math.abs(halved.pValue! - 0.1) < 1e-12, '3 vs 3 disjoint: p = 0.1')
  t.equal(noiseTest([100, 102, 98], [98, 100, 96]).significant, false, '-2%: ranges overlap')
  t.equal(noiseTest([100, 100.1, 100.2], [97, 97.1, 97.2]).significant, false, 'disjoint, tiny noise, but a 3% change is below the 5% floor')
  t.equal(noiseTest([100, 100.1, 100.2], [90, 90.1, 90.2]).significant, true, 'tiny noise: a 10% drop counts')
  t.equal(noiseTest([100, 150, 125], [80, 85, 82]).significant, false, 'disjoint but within 2×CV')
  t.equal(noiseTest([100, 100.1, 100.2], [90, 90.1, 90.2], { minEffect: 0.2 }).significant, false, '--min-effect raises the floor')
  const mw = noiseTest([100, 101, 99, 100.5], [90, 91, 89, 90.5])
  t.same([mw.method, mw.significant], ['mann-whitney', true])
  t.ok(mw.pValue! < 0.05)
  t.equal(noiseTest([100, 90, 99, 91], [92, 101, 89, 98]).significant, false, 'mixed: p > 0.1')
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
    t.equal(r.throughput.test!.method, 'mann-whitney', '3 repetitions a side')
  }
  const table = formatCompareTable(c)
  t.match(table, /^scenario\s+target\s+BASE req\/s\s+HEAD req\/s\s+ratio\s+change\s+result/)
  t.match(table, /test: With ≥ 3 repetitions on both sides: significant when the exact two-sided Mann–Whitney U test gives p ≤ α/)
})

t.test('2 repetitions a side never cry wolf: even a halving is "too few repetitions to tell"', async (t) => {
  const s = steadiest(base2)
  const c = compareResults(base2, scaleThroughput(base2, s.id, 0.5), { failOnRegressionPct: 10 })
  t.same(new Set(c.rows.map((r) => r.change)), new Set(['too few repetitions']))
  t.equal(c.gate.failed, false)
  t.match(c.tooFew, /^too few repetitions to tell for 8 of 8 scenario\(s\) \(BASE 2, HEAD 2 repetition\(s\)\): a change is only called with ≥ 3 repetitions on each side — run both with -r 3 or more$/)
  const table = formatCompareTable(c)
  t.match(table, /\? too few repetitions/)
  t.match(table, /too few repetitions \(2 vs 2; need 3\)/)
  t.notMatch(table, /[▲▼] (improvement|regression)/)
  t.match(renderCompareHtml(c), /<div class="banner">too few repetitions to tell for 8 of 8/)
  t.match(renderCompareMarkdown(c), /\*\*Note:\*\* too few repetitions to tell/)
  // the two recorded runs, 2 repetitions each, whatever their medians say
  const real = compareResults(base2, head2)
  t.equal(real.counts.improvement + real.counts.regression, 0)
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

t.test('a run under other Node options says so beside the change, as another Node does', async (t) => {
  const b = JSON.parse(JSON.stringify(base)) as typeof base
  const s = b.scenarios.find((x) => x.status === 'ok')!
  s.target.runtime = { spec: '24', node: 'v24.22.3', path: '/n24' }
  const h = JSON.parse(JSON.stringify(b)) as typeof base
  h.scenarios.find((x) => x.id === s.id)!.target.runtime = { spec: '24 --single-threaded-gc', node: 'v24.22.3', path: '/n24', flags: ['--single-threaded-gc'] }
  const row = compareResults(b, h).rows.find((r) => r.id === s.id)!
  t.match(row.note, /node v24\.22\.3 → v24\.22\.3 --single-threaded-gc/)
  t.notMatch(compareResults(b, b).rows.find((r) => r.id === s.id)!.note ?? '', /node v24/, 'the same runtime both sides: nothing said')
})

t.test('fixed-rate scenarios run at different rates are not compared as a change', async (t) => {
  const b = JSON.parse(JSON.stringify(base)) as typeof base
  const s = b.scenarios.find((x) => x.status === 'ok')!
  s.fixedRate = { of: s.group, fraction: 0.5 }
  s.rate = { requestsPerSec: 1000, basis: 'test' }
  const h = JSON.parse(JSON.stringify(b)) as typeof base
  const hs = h.scenarios.find((x) => x.id === s.id)!
  hs.rate = { requestsPerSec: 1400, basis: 'test' }
  for (const rep of hs.repetitions) if (rep.load !== null) rep.load.throughput.requestsPerSec *= 1.4
  hs.summary = summarizeRepetitions(hs.repetitions)
  const row = compareResults(b, h).rows.find((r) => r.id === s.id)!
  t.equal(row.change, 'not comparable')
  t.match(row.note, /fixed rate 1,000 → 1,400 req\/s/)
  // at the same rate they are compared as usual
  t.equal(compareResults(b, b).rows.find((r) => r.id === s.id)!.change, 'no significant change')
})

t.test('a whole run slower (the machine busier) is reported as drift, not as a regression of every scenario', async (t) => {
  let slow = base
  for (const s of base.scenarios) if (s.summary?.requestsPerSec != null) slow = scaleThroughput(slow, s.id, 0.7)
  const c = compareResults(base, slow, { failOnRegressionPct: 10 })
  t.ok(Math.abs(c.drift.requestsPerSec - 0.7) < 1e-6, `drift ${c.drift.requestsPerSec}`)
  t.equal(c.counts.regression, 0, 'no scenario flagged for the run-wide shift')
  t.equal(c.gate.failed, false)
  t.match(formatCompareTable(c), /run-wide drift: HEAD runs at 0\.70× BASE's req\/s \(median over \d+ scenarios/)
  // one scenario halved beyond the drift is still a regression
  const s = steadiest(base)
  const worse = scaleThroughput(slow, s.id, 0.5)
  const row = compareResults(base, worse).rows.find((r) => r.id === s.id)!
  t.equal(row.change, 'regression')
  t.ok(Math.abs(row.throughput.adjustedRatio! - 0.5) < 1e-6, 'tested relative to the drift: 0.35 ÷ 0.7')
  t.match(renderCompareMarkdown(c), /\*\*Note:\*\* run-wide drift/)
})
