import t from 'tap'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compareResults } from '@echoplex/report'
import { readResults, SUITES_DIR } from '@echoplex/results'
import { runCli } from '../../server/test/helpers/server.js'

const dir = mkdtempSync(join(tmpdir(), 'echoplex-compare-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/**
 * The false-alarm rate of compare's test: the quick suite's closed-loop echo (three models, no peers,
 * short scenarios, 3 repetitions — the fewest a change is tested with) run twice on the same commit,
 * one run after the other. Nothing changed, so every "significant change" is a false alarm; most
 * groups must report none. (Without the quick suite's fixed-rate groups: each run derives their rate
 * from its own closed-loop results, so compare calls them not comparable — report's compare tests
 * cover that — and here they would only double the run.)
 */
t.test('two runs of the quick suite on one commit: compare reports no significant change in most groups', async (t) => {
  const suite = join(dir, 'quick-closed-loop.json')
  const quick = JSON.parse(readFileSync(join(SUITES_DIR, 'quick.json'), 'utf8')) as Record<string, unknown>
  writeFileSync(suite, JSON.stringify({ ...quick, name: 'quick-closed-loop', fixedRate: false, workloads: [{ handler: 'echo' }] }))
  const files: string[] = []
  for (const run of ['a', 'b']) {
    const out = join(dir, run)
    const r = await runCli(['bench', '--suite', suite, '-m', 'event-loop,cluster,fork', '--no-peers', '-d', '300ms', '--warmup', '100ms', '-r', '3', '-q', '--out', out], 140_000)
    t.equal(r.code, 0, `run ${run} (${r.stderr.trim()})`)
    files.push(join(out, readdirSync(out)[0]!))
  }
  // the gate the CLI is given below, so both judge the same way (one allowed false alarm may exceed it)
  const c = compareResults(readResults(files[0]!), readResults(files[1]!), { failOnRegressionPct: 10 })
  const quiet = c.counts['no significant change']
  const alarms = c.counts.improvement + c.counts.regression
  const tested = quiet + alarms
  t.comment(`same commit, twice: ${quiet} of ${tested} tested groups no significant change, ${alarms} false alarm(s)`)
  t.equal(tested, c.rows.length, `every group is tested (${c.rows.length})`)
  t.ok(tested >= 3, `${tested} groups tested`)
  t.equal(c.counts['too few repetitions'], 0, '3 repetitions a side: every group is tested')
  t.ok(quiet > tested / 2, `most groups: ${quiet} of ${tested} report no significant change`)
  t.ok(alarms <= 1, `at most one false alarm (${alarms})`)

  // the CLI says the same, and passes a regression gate
  const cli = await runCli(['compare', files[0]!, files[1]!, '--out', join(dir, 'cmp'), '--fail-on-regression', '10'], 30_000)
  t.equal(cli.code, c.gate.failed ? 1 : 0)
  t.match(cli.stdout, new RegExp(`${c.rows.length} matched: .*${quiet} = no significant change`))
})
