import t from 'tap'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compareResults } from '@echoplex/report'
import { readResults } from '@echoplex/results'
import { runCli } from '../../server/test/helpers/server.js'

const dir = mkdtempSync(join(tmpdir(), 'echoplex-compare-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/**
 * The false-alarm rate of compare's test: the quick suite (a subset: the echo workload, every model
 * and one peer, short scenarios, 3 repetitions — the fewest a change is tested with) run twice on the
 * same commit, one run after the other. Nothing changed, so every "significant change" is a false
 * alarm; most groups must report none.
 */
t.test('two runs of the quick suite on one commit: compare reports no significant change in most groups', async (t) => {
  const files: string[] = []
  for (const run of ['a', 'b']) {
    const out = join(dir, run)
    const r = await runCli(['bench', '--suite', 'quick', '-w', 'echo', '--peers', 'node-net', '-d', '400ms', '--warmup', '150ms', '-r', '3', '-q', '--out', out], 180_000)
    t.equal(r.code, 0, `run ${run} (${r.stderr.trim()})`)
    files.push(join(out, readdirSync(out)[0]!))
  }
  const c = compareResults(readResults(files[0]!), readResults(files[1]!))
  const quiet = c.counts['no significant change']
  const alarms = c.counts.improvement + c.counts.regression
  t.comment(`same commit, twice: ${quiet} of ${c.rows.length} groups no significant change, ${alarms} false alarm(s)`)
  t.ok(c.rows.length >= 4, `${c.rows.length} groups compared`)
  t.equal(c.counts['too few repetitions'], 0, '3 repetitions a side: every group is tested')
  t.ok(quiet > c.rows.length / 2, `most groups: ${quiet} of ${c.rows.length} report no significant change`)
  t.ok(alarms <= 1, `at most one false alarm (${alarms})`)

  // the CLI says the same, and passes a regression gate
  const cli = await runCli(['compare', files[0]!, files[1]!, '--out', join(dir, 'cmp'), '--fail-on-regression', '10'], 30_000)
  t.equal(cli.code, c.gate.failed ? 1 : 0)
  t.match(cli.stdout, new RegExp(`${c.rows.length} matched: .*${quiet} = no significant change`))
})
