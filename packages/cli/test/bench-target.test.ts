import t from 'tap'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readResults } from '@echoplex/results'
import { runCli, startServer } from '../../server/test/helpers/server.js'

const dir = mkdtempSync(join(tmpdir(), 'echoplex-bench-target-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('bench --target: bad targets are one-line usage errors', async (t) => {
  for (const [args, message] of [
    [['--target', 'nohost'], /--target "nohost": expected HOST:PORT/],
    [['--target', '127.0.0.1:9', '--target-pid', '1', '--target-pid', '1'], /2 pid\(s\) for 1 target/],
    [['--target-pid', '1'], /--target-pid: needs --target/],
  ] as const) {
    const r = await runCli(['bench', ...args])
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, message)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
  }
})

t.test('bench --target loads an HTTP server it did not start and records it as external', async (t) => {
  const server = await startServer(t, ['--handler', 'http', '--model', 'cluster', '--workers', '2'])
  const out = join(dir, 'http')
  const r = await runCli(['bench', '--target', `127.0.0.1:${server.port}`, '--target-pid', String(server.pid), '-w', 'http',
    '-d', '600ms', '--warmup', '100ms', '-c', '4', '--modes', 'keep-alive,churn', '--out', out], 60_000)
  t.equal(r.code, 0, `exit 0 (${r.stderr.trim()})`)
  t.match(r.stdout, new RegExp(`http 64B c4 keep-alive\\s+127\\.0\\.0\\.1:${server.port} \\(external\\)\\s+[\\d,]+`))
  const results = readResults(join(out, readdirSync(out)[0]!))
  t.same(results.scenarios.map((s) => [s.target.kind, s.mode, s.status]), [['external', 'keep-alive', 'ok'], ['external', 'churn', 'ok']])
  // the cluster's primary and its 2 workers: sampled because --target-pid named the primary
  t.ok(results.scenarios.every((s) => (s.summary?.processes?.median ?? 0) >= 3), 'the target\'s process tree was sampled')
})
