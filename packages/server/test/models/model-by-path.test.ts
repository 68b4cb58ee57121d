/**
 * A fifth model is one file: a module that default-exports a descriptor, passed by path. The
 * conformance suite runs against it, and so does a one-scenario benchmark, with nothing else edited.
 */
import t from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveModel } from '@echoplex/server'
import { conformance } from './conformance.js'
import { fixture, runCli, startServer } from '../helpers/server.js'

const MODEL = fixture('models/loop-twin.mjs')
await resolveModel(MODEL)

conformance(MODEL)

t.test('serve --model PATH names the model in its listening line and stats', async (t) => {
  const server = await startServer(t, ['--model', MODEL, '--handler', 'echo'])
  t.match(server.stdout(), /^listening \S+ model=loop-twin pid=\d+$/m)
})

t.test('echoplex bench --models PATH runs one scenario against it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-model-by-path-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const suite = join(dir, 'one.json')
  writeFileSync(suite, JSON.stringify({ name: 'one', durationMs: 600, warmupMs: 200, idleSettleMs: 50, connections: [4], models: 'all', peers: false, workloads: [{ handler: 'echo' }] }))
  const r = await runCli(['bench', '--suite', suite, '--models', MODEL, '--out', dir], 60_000)
  t.equal(r.code, 0, `exit 0 (${r.stderr.trim()})`)
  const file = readdirSync(dir).find((f) => f.startsWith('one-'))!
  // (read as plain JSON: the server package does not depend on bench)
  const results = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { scenarios: Array<{ target: { label: string }, status: string, summary?: { requestsPerSec?: { median: number } } }> }
  t.same(results.scenarios.map((s) => [s.target.label, s.status]), [['loop-twin', 'ok']])
  t.ok((results.scenarios[0]!.summary?.requestsPerSec?.median ?? 0) > 0, 'it served requests')
})

t.test('a file that is not a model descriptor is refused in one line', async (t) => {
  const r = await runCli(['serve', '--model', fixture('models/not-a-model.mjs')])
  t.equal(r.code, 2)
  t.match(r.stderr.trim(), /^echoplex: model \S+not-a-model\.mjs is not a valid model descriptor: "name" must be a lower-case word/)
  t.equal(r.stderr.trim().split('\n').length, 1)
})
