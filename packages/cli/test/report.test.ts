import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readResults, RESULTS_DIR } from '@echoplex/results'
import { BASE, FAILED_RUN, clone, load, scaleThroughput, steadiest, withRepetitions } from '../../report/test/fixtures/synthetic.js'
import { runCli } from '../../server/test/helpers/server.js'


/** `echoplex …` to completion, with tap's hooks kept out of its environment. */
const echoplex = async (args: string[], timeoutMs = 30_000): ReturnType<typeof runCli> => await runCli(args, timeoutMs)

const dir = mkdtempSync(join(tmpdir(), 'echoplex-report-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('echoplex report FILE --out DIR writes report.html and report.md', async (t) => {
  const out = join(dir, 'report')
  const r = await echoplex(['report', FAILED_RUN, '--out', out])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, `report.html: ${join(out, 'report.html')}\nreport.md: ${join(out, 'report.md')}\n`)
  const html = readFileSync(join(out, 'report.html'), 'utf8')
  const md = readFileSync(join(out, 'report.md'), 'utf8')
  const results = readResults(FAILED_RUN)
  const el = results.scenarios.find((s) => s.id === 'echo:event-loop:64B:c8:keep-alive')!
  const rps = el.summary!.requestsPerSec!.median.toLocaleString('en-US', { maximumFractionDigits: 0 })
  t.ok(html.includes(`>${rps}<`) && md.includes(`| ${rps} |`), `median ${rps} in both`)
  t.match(html, /<svg[^>]*class="chart/)
  t.match(md, /\*\*FAILED\*\* work 64B c8 keep-alive @ event-loop/)
  t.notMatch(html, /src="http|href="http/)
})

t.test('echoplex report with no argument: the newest results file in benchmarks/results/', async (t) => {
  const name = `zz-report-cli-test-${process.pid}`
  const file = join(RESULTS_DIR, `${name}.json`)
  copyFileSync(BASE, file)
  const future = new Date(Date.now() + 60_000)
  utimesSync(file, future, future)
  t.teardown(() => { rmSync(file, { force: true }); rmSync(join(RESULTS_DIR, name), { recursive: true, force: true }) })
  const r = await echoplex(['report'])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, `report.html: ${join(RESULTS_DIR, name, 'report.html')}\nreport.md: ${join(RESULTS_DIR, name, 'report.md')}\n`)
  t.ok(existsSync(join(RESULTS_DIR, name, 'report.html')))
})

t.test('echoplex compare: identical runs pass, a halved scenario fails --fail-on-regression', async (t) => {
  // 3 repetitions a side: the fewest a change is tested with
  const BASE3 = join(dir, 'base3.json')
  writeFileSync(BASE3, JSON.stringify(withRepetitions(load(BASE), 3)))
  const same = await echoplex(['compare', BASE3, BASE3, '--out', join(dir, 'same'), '--fail-on-regression', '10'])
  t.equal(same.code, 0, same.stderr)
  t.match(same.stdout, /^scenario\s+target\s+BASE req\/s\s+HEAD req\/s\s+ratio\s+change\s+result/)
  t.match(same.stdout, /8 matched: 8 = no significant change/)
  t.match(same.stdout, /pass: no significant regression beyond 10%/)
  t.ok(existsSync(join(dir, 'same', 'compare.html')) && existsSync(join(dir, 'same', 'compare.md')))

  const base = load(BASE3)
  const s = steadiest(base)
  const halved = join(dir, 'halved.json')
  writeFileSync(halved, JSON.stringify(scaleThroughput(base, s.id, 0.5)))
  const bad = await echoplex(['compare', BASE3, halved, '--out', join(dir, 'halved'), '--fail-on-regression', '10'])
  t.equal(bad.code, 1, 'exit 1: significant regression beyond 10%')
  t.match(bad.stdout, /▼ regression/)
  t.match(bad.stdout, /FAIL: significant regression beyond 10%/)
  t.equal(bad.stderr.trim().split('\n').length, 1, `one line: ${bad.stderr.trim()}`)
  t.match(bad.stderr, /^echoplex: significant regression beyond 10%: .* -50\.0% req\/s/)
  t.match(readFileSync(join(dir, 'halved', 'compare.md'), 'utf8'), /\*\*▼ regression\*\*/)

  const noGate = await echoplex(['compare', BASE3, halved, '--out', join(dir, 'halved2')])
  t.equal(noGate.code, 0, 'without --fail-on-regression: exit 0')
  t.match(noGate.stdout, /1 ▼ regression/)

  const slight = join(dir, 'slight.json')
  writeFileSync(slight, JSON.stringify(scaleThroughput(base, s.id, 0.98)))
  const ok = await echoplex(['compare', BASE3, slight, '--out', join(dir, 'slight'), '--fail-on-regression', '1'])
  t.equal(ok.code, 0, `-2%: within the noise (${ok.stderr.trim()})`)
  t.notMatch(ok.stdout, /▼/)

  // the recorded runs hold 2 repetitions: a halving is not called, and the user is told why
  const base2 = load(BASE)
  const halved2 = join(dir, 'halved-2reps.json')
  writeFileSync(halved2, JSON.stringify(scaleThroughput(base2, steadiest(base2).id, 0.5)))
  const few = await echoplex(['compare', BASE, halved2, '--out', join(dir, 'few'), '--fail-on-regression', '10'])
  t.equal(few.code, 0, 'nothing significant: the gate passes')
  t.match(few.stdout, /8 matched: 8 \? too few repetitions/)
  t.match(few.stdout, /too few repetitions to tell for 8 of 8 scenario\(s\) \(BASE 2, HEAD 2 repetition\(s\)\): .* run both with -r 3 or more/)
})

t.test('bad input: one line on stderr, exit 2, no stack trace', async (t) => {
  const notJson = join(dir, 'not.json')
  writeFileSync(notJson, '{ "schemaVersion": 1,')
  const v3 = join(dir, 'v3.json')
  writeFileSync(v3, JSON.stringify({ ...load(BASE), schemaVersion: 3 }))
  const alien = join(dir, 'alien.json')
  writeFileSync(alien, JSON.stringify({ hello: 'world' }))
  const broken = join(dir, 'broken.json')
  const b = clone(load(BASE)) as unknown as { scenarios: Array<{ status: string }> }
  b.scenarios[3]!.status = 'splendid'
  writeFileSync(broken, JSON.stringify(b))
  const missing = join(dir, 'missing.json')
  const out = join(dir, 'never')
  const cases: Array<[string[], RegExp]> = []
  for (const [args, re] of [
    [['report', missing, '--out', out], /^echoplex: .*missing\.json: no such file$/],
    [['report', notJson, '--out', out], /^echoplex: .*not\.json: not valid JSON: /],
    [['report', v3, '--out', out], /^echoplex: .*v3\.json: invalid results: schemaVersion 3 is not supported \(this echoplex reads 1 and 2; it writes 2\)$/],
    [['report', alien, '--out', out], /^echoplex: .*alien\.json: invalid results: no schemaVersion: not an echoplex results file$/],
    [['report', broken, '--out', out], /^echoplex: .*broken\.json: invalid results: \/scenarios\/3\/status: /],
    [['report', BASE, missing, '--out', out], /missing\.json: no such file$/],
    [['compare', BASE, missing, '--out', out], /missing\.json: no such file$/],
    [['compare', v3, BASE, '--out', out], /schemaVersion 3 is not supported/],
    [['compare', BASE], /missing required argument 'head'/],
    [['compare', BASE, BASE, '--fail-on-regression', 'lots'], /expected a percentage/],
  ] as Array<[string[], RegExp]>) {
    cases.push([args, re])
  }
  // independent processes: run them side by side
  const results = await Promise.all(cases.map(([args]) => echoplex(args)))
  for (const [i, [args, re]] of cases.entries()) {
    const r = results[i]!
    const label = args.map((a) => a.replace(dir, '…')).join(' ')
    t.equal(r.code, 2, `${label}: exit 2`)
    t.equal(r.stderr.trim().split('\n').length, 1, `${label}: one line (${r.stderr.trim()})`)
    t.match(r.stderr.trim(), re, label)
    t.notMatch(r.stderr, /\n\s+at /, `${label}: no stack trace`)
  }
  t.notOk(existsSync(out), 'nothing written for bad input')
})
