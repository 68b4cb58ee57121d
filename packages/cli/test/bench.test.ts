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

t.test('bad input: one line on stderr, non-zero exit, no stack trace', async (t) => {
  for (const [args, re] of [
    [['bench', '--suite', 'no-such-suite'], /^echoplex: unknown suite "no-such-suite" \(expected one of: churn, cpu, quick, standard, or a suite file path\)$/],
    [['bench', '--suite', join(dir, 'missing.json')], /^echoplex: suite file not found: /],
    [['bench', '--models', 'threads'], /^echoplex: suite .*quick\.json: unknown model "threads"/],
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
