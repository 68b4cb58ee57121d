import t from 'tap'
import { fileURLToPath } from 'node:url'
import { readResults } from '@echoplex/results'
import { formatSummaryTable } from '../../src/runner/table.js'
import { describeSuites, formatSuiteList } from '../../src/runner/suite.js'

// a real run: event-loop, fork and node-net over echo (keep-alive, churn) and work, one failed
const FIXTURE = fileURLToPath(new URL('../../../report/test/fixtures/failed-run.json', import.meta.url))

t.test('the bench table fits the terminal: scenario as a heading, then fewer columns, reasons wrapped', async (t) => {
  const results = readResults(FIXTURE)
  const wide = formatSummaryTable(results)
  const widest = Math.max(...wide.split('\n').map((l) => l.length))
  t.match(wide, /^scenario\s+target\s+req\/s\s+req\/CPU-s\s+p50 ms\s+p99 ms\s+CPU s\s+RSS MiB\s+status\s+vs fastest peer/, 'no width: every column')
  t.same(formatSummaryTable(results, { width: widest + 10 }), wide, 'room enough: unchanged')
  for (const width of [100, 80, 60]) {
    const narrow = formatSummaryTable(results, { width })
    const long = narrow.split('\n').filter((l) => l.length > width)
    t.same(long, [], `every line within ${width} columns`)
    t.match(narrow, /^target\s+req\/s/, `${width}: the scenario is a heading, not a column`)
    t.match(narrow, /^echo 64B c8 keep-alive:\n\S/m, 'a heading per scenario')
    t.match(narrow, /p99 ms/, 'p99 stays')
    t.match(narrow, /RSS MiB/, 'memory stays')
    t.match(narrow, /status/, 'status stays')
    t.match(narrow, /^failed: work 64B c8 keep-alive @ event-loop: /m, 'the failure reason is there, wrapped')
  }
  t.notMatch(formatSummaryTable(results, { width: 60 }).split('\n')[0], /p50 ms/, 'at 60 columns p50 is left out…')
  t.match(formatSummaryTable(results, { width: 60 }).replace(/\s+/g, ' '), /narrowed to 60 columns: .*p50 ms.* left out; all of it is in the results file/, '…and the table says so')
})

t.test('bench --list: each suite with its description, wrapped', async (t) => {
  const suites = describeSuites()
  t.same(suites.map((s) => s.name), ['churn', 'cpu', 'quick', 'standard'])
  t.ok(suites.every((s) => s.description.length > 20), 'every shipped suite says what it runs')
  const text = formatSuiteList(suites, 70)
  t.ok(text.split('\n').every((l) => l.length <= 70), 'within 70 columns')
  t.match(text, /^quick\s+A first look: every model/m)
  t.match(text, /^ {8,}\S/m, 'continuation lines indented under the description')
})
