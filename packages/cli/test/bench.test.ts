import t from 'tap'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readResults } from '@echoplex/results'
import { runCli } from '../../server/test/helpers/server.js'


/** `echoplex …` to completion, with tap's hooks kept out of its environment. */
const echoplex = async (args: string[], timeoutMs = 60_000): ReturnType<typeof runCli> => await runCli(args, timeoutMs)

const dir = mkdtempSync(join(tmpdir(), 'echoplex-bench-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('echoplex bench --suite FILE --out DIR runs it, prints a table and writes a valid results file', async (t) => {
  const suite = join(dir, 'tiny.json')
  writeFileSync(suite, JSON.stringify({
    name: 'tiny-cli',
    durationMs: 700,
    warmupMs: 200,
    idleSettleMs: 50,
    connections: [4],
    models: ['event-loop'],
    peers: ['node-net'],
    workloads: [{ handler: 'echo' }],
  }))
  const out = join(dir, 'out')
  const r = await echoplex(['bench', '--suite', suite, '--out', out])
  t.equal(r.code, 0, `exit 0 (${r.stderr.trim()})`)
  const files = readdirSync(out)
  t.equal(files.length, 1, 'one results file')
  t.match(files[0], /^tiny-cli-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.json$/)
  const results = readResults(join(out, files[0]!))
  t.equal(results.complete, true)
  t.same(results.scenarios.map((s) => [s.target.label, s.status]), [['event-loop', 'ok'], ['node-net', 'ok']])
  t.match(r.stdout, /scenario\s+target\s+req\/s\s+req\/CPU-s\s+p50 ms\s+p99 ms\s+CPU s\s+RSS MiB\s+status\s+vs fastest peer/)
  t.match(r.stdout, /echo 64B c4 keep-alive\s+event-loop\s+[\d,]+\s+[\d,]+\s/)
  t.match(r.stdout, new RegExp(`results: ${join(out, files[0]!).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  t.match(r.stderr, /\[2\/2\] echo 64B c4 keep-alive @ node-net #1: ok/, 'plain progress lines when stderr is not a TTY')
})

t.test('bench --list: every suite with what it runs', async (t) => {
  const r = await echoplex(['bench', '--list'], 15_000)
  t.equal(r.code, 0)
  t.match(r.stdout, /^churn\s+Connection churn/m)
  t.match(r.stdout, /^quick\s+A first look: every model and every available peer/m)
  t.match(r.stdout, /^standard\s+The full picture/m)
})

t.test('bad input: one line on stderr, non-zero exit, no stack trace', async (t) => {
  for (const [args, re] of [
    [['bench', '--suite', 'no-such-suite'], /^echoplex: unknown suite "no-such-suite" \(expected one of: churn, cpu, quick, standard, or a suite file path\)$/],
    [['bench', '--suite', join(dir, 'missing.json')], /^echoplex: suite file not found: /],
    // a bad flag is named as the flag, not blamed on the suite file
    [['bench', '--models', 'threads'], /^echoplex: --models: unknown model "threads" \(expected one of: /],
    [['bench', '--peers', 'nginx'], /^echoplex: --peers: unknown peer "nginx"/],
    [['bench', '--workloads', 'chat'], /^echoplex: --workloads: handler "chat" cannot be benchmarked \(no request → reply contract/],
    [['bench', '--workloads', './no-such-handler.mjs'], /^echoplex: --workloads: handler file not found: .*no-such-handler\.mjs$/],
    [['bench', '--workloads', 'echo', '--load-script', join(dir, 'none.mjs')], /^echoplex: --load-script: load script not found: /],
    [['bench', '--load-script', join(dir, 'none.mjs')], /^echoplex: --load-script: workload http is HTTP/],
    [['bench', '--connections', 'many'], /^echoplex: option '-c, --connections <list>' argument 'many' is invalid/],
    [['bench', '--modes', 'sometimes'], /expected keep-alive and\/or churn/],
    [['bench', '--pin', 'fast'], /^echoplex: option '--pin <cpus>' argument 'fast' is invalid\. expected auto, none, or SERVER_CPUS:LOAD_CPUS/],
    [['bench', '--pin', '0:0'], /overlap/],
    [['bench', '--engine', 'turbo'], /^echoplex: option '--engine <auto\|node\|native>' argument 'turbo' is invalid\. expected auto, node, native$/],
  ] as Array<[string[], RegExp]>) {
    const r = await echoplex(args, 15_000)
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`)
    t.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line (${r.stderr.trim()})`)
    t.match(r.stderr.trim(), re)
    t.notMatch(r.stderr, /\n\s+at /)
  }
})

t.test('bench -w FILE uses the handler\'s framing; --load-script loads and verifies a handler that is not an echo', async (t) => {
  // handler files outside the repository, as a user writes them
  const lineEcho = join(dir, 'lineecho.mjs')
  writeFileSync(lineEcho, "export default { name: 'lineecho', framing: 'line', onMessage (line) { return Buffer.concat([line, Buffer.from('\\n')]) } }\n")
  const shout = join(dir, 'shout.mjs')
  writeFileSync(shout, "export default { name: 'shout', framing: 'line', onConnect (ctx) { ctx.send('welcome\\n') }, onMessage (line) { return line.toString().toUpperCase() + '!\\n' } }\n")
  const script = join(dir, 'shout-load.mjs')
  writeFileSync(script, 'export default { greeting: "welcome\\n", request (n) { return `hello ${n}` }, check (reply, n) { return reply.toString() === `HELLO ${n}!` || "not shouted" } }\n')
  const common = ['-m', 'event-loop', '--no-peers', '-d', '300ms', '--warmup', '100ms', '-c', '2', '-q']

  const out1 = join(dir, 'out-line')
  const r1 = await echoplex(['bench', '-w', lineEcho, ...common, '--out', out1])
  t.equal(r1.code, 0, `a line echo handler file runs (${r1.stderr.trim()})`)
  const res1 = readResults(join(out1, readdirSync(out1)[0]!))
  t.equal(res1.scenarios[0]?.workload.framing, 'line', 'framing read from the handler')
  t.equal(res1.scenarios[0]?.status, 'ok')

  const out2 = join(dir, 'out-shout-echo')
  const r2 = await echoplex(['bench', '-w', shout, ...common, '--out', out2])
  t.equal(r2.code, 1, 'not an echo: the scenario fails')
  const res2 = readResults(join(out2, readdirSync(out2)[0]!))
  t.match(res2.scenarios[0]?.reason, /answered a 64 B line request \(expecting it echoed\) with something else \(expected .*got "welcome\\n.*--load-script/)

  const out3 = join(dir, 'out-shout-script')
  const r3 = await echoplex(['bench', '-w', shout, '--load-script', script, ...common, '--out', out3])
  t.equal(r3.code, 0, `with a load script it is loaded and verified (${r3.stderr.trim()})`)
  const res3 = readResults(join(out3, readdirSync(out3)[0]!))
  const sc = res3.scenarios[0]!
  t.equal(sc.workload.expect, 'script')
  t.equal(sc.workload.loadScript, script)
  t.equal(sc.status, 'ok')
  t.ok((sc.summary?.requestsPerSec?.median ?? 0) > 0, 'requests completed')
  t.equal(sc.repetitions[0]?.load?.mismatches, 0)
})

t.test('bench: a handler that never answers is reported as such at the first-reply timeout', async (t) => {
  const silent = join(dir, 'silent.mjs')
  writeFileSync(silent, "export default { name: 'silent', framing: 'line', onMessage () {} }\n")
  const out = join(dir, 'out-silent')
  const t0 = Date.now()
  const r = await echoplex(['bench', '-w', silent, '-m', 'event-loop', '--no-peers', '-d', '300ms', '--warmup', '100ms', '-c', '2', '-q', '--out', out])
  const ms = Date.now() - t0
  t.equal(r.code, 1)
  t.ok(ms < 25_000, `done in ${ms} ms (the 30 s connect timeout is not waited out)`)
  const res = readResults(join(out, readdirSync(out)[0]!))
  t.match(res.scenarios[0]?.reason, /connected, but no reply to a 64 B line request \(expecting it echoed\) within 10 s/)
})

t.test('bench --steady-warmup: each measurement follows a warm-up until steady, recorded and shown', async (t) => {
  const out = join(dir, 'out-steady')
  const r = await echoplex(['bench', '-w', 'echo', '-m', 'event-loop', '--no-peers', '-d', '300ms', '--warmup', '100ms', '-c', '2', '--steady-warmup', '5s', '--out', out], 60_000)
  t.equal(r.code, 0, r.stderr.trim())
  const res = readResults(join(out, readdirSync(out)[0]!))
  t.equal(res.suite.workloads[0]!.steadyWarmupMs, 5000)
  const w = res.scenarios[0]!.repetitions[0]!.steadyWarmup
  t.ok(w != null && w.steps.length >= 1 && w.ms <= 5000 + 2000, `warm-up recorded: ${JSON.stringify(w)}`)
  t.match(r.stderr, w!.steady ? /steady after \d+ warm-up steps/ : /NOT steady after/, 'the progress line says how it went')
  const bad = await echoplex(['bench', '-w', 'echo', '-m', 'event-loop', '--steady-warmup', 'soon'], 15_000)
  t.equal(bad.code, 2)
  t.equal(bad.stderr.trim().split('\n').length, 1, `one line: ${bad.stderr.trim()}`)
})
