/**
 * `bench --target`: servers the runner did not start, on loopback — one echoplex server (started by
 * the test through the runner's own launcher), a port that refuses, a server that answers wrong
 * bytes and one that resets. Each bad target fails its own scenarios with one clear line; the good
 * one is measured; results validate and mark every one external.
 */
import t from 'tap'
import { createServer, type Server } from 'node:net'
import { once } from 'node:events'
import { normalizeSuite, SuiteError } from '../../src/runner/suite.js'
import { runSuite } from '../../src/runner/run.js'
import { parseTarget, withExternalTargets } from '../../src/runner/external.js'
import { validateResults } from '@echoplex/results'
import { ECHOPLEX_BIN, spawnServer } from '../../src/runner/server.js'
import { formatSummaryTable } from '../../src/runner/table.js'

async function listenLocal (server: Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as { port: number }).port
}

t.test('targets: parsing and suite shape', async (t) => {
  t.same(parseTarget('10.203.0.2:7000'), { host: '10.203.0.2', port: 7000 })
  t.same(parseTarget('[::1]:80'), { host: '::1', port: 80 })
  t.same(parseTarget('balancer.local:8080'), { host: 'balancer.local', port: 8080 })
  for (const bad of ['10.0.0.1', ':80', '10.0.0.1:0', 'h:70000', '::1:80', 'a b:1']) t.throws(() => parseTarget(bad), SuiteError, bad)
  const suite = normalizeSuite({ name: 's', workloads: [{ handler: 'echo' }], models: ['event-loop'], peers: ['node-net'] })
  const only = withExternalTargets(suite, ['127.0.0.1:9', '[::1]:9'])
  t.same(only.models, [], 'targets alone: no models')
  t.same(only.peers, [], 'targets alone: no peers')
  t.same(only.external?.map((x) => [x.kind, x.label, x.external?.pid]), [['external', '127.0.0.1:9', null], ['external', '[::1]:9', null]])
  const both = withExternalTargets(suite, ['127.0.0.1:9'], [process.pid], { models: true })
  t.same(both.models.map((m) => m.name), ['event-loop'], 'models kept when named')
  t.equal(both.external?.[0]?.external?.pid, process.pid)
  t.throws(() => withExternalTargets(suite, ['127.0.0.1:9', '127.0.0.1:9']), /appears twice/)
  t.throws(() => withExternalTargets(suite, ['127.0.0.1:9'], [1, 2]), /2 pid\(s\) for 1 target/)
  t.throws(() => withExternalTargets(suite, ['127.0.0.1:9'], [2 ** 22 + 1]), /no such process/)
})

t.test('a good target is measured, bad ones fail with one clear line each, and the run goes on', async (t) => {
  const good = spawnServer({ command: process.execPath, args: [ECHOPLEX_BIN, 'serve', '--port', '0', '--handler', 'echo'] }, 'external-echo')
  t.teardown(async () => { await good.stop(2000) })
  await good.ready(20_000)

  // a port that refuses: bound then closed, so nothing listens there
  const gone = createServer()
  const refusedPort = await listenLocal(gone)
  gone.close()
  await once(gone, 'close')

  // answers every request with the wrong bytes
  const liar = createServer((s) => { s.on('data', (d: Buffer) => s.write(Buffer.alloc(d.length, 0x3f))) })
  const liarPort = await listenLocal(liar)
  t.teardown(() => liar.close())

  // accepts, then resets
  const resetter = createServer((s) => { s.once('data', () => s.resetAndDestroy()) })
  const resetPort = await listenLocal(resetter)
  t.teardown(() => resetter.close())

  const targets = [`127.0.0.1:${good.port}`, `127.0.0.1:${refusedPort}`, `127.0.0.1:${liarPort}`, `127.0.0.1:${resetPort}`]
  const suite = withExternalTargets(normalizeSuite({
    name: 'external', durationMs: 600, warmupMs: 100, connections: [4], modes: ['keep-alive', 'churn'], workloads: [{ handler: 'echo' }],
  }), targets, [good.pid, process.pid, process.pid, process.pid])
  const results = await runSuite(suite, { outPath: null })
  t.equal(validateResults(JSON.parse(JSON.stringify(results))), null, 'results validate')
  t.equal(results.scenarios.length, 8, '4 targets × 2 modes')
  t.ok(results.scenarios.every((s) => s.target.kind === 'external'), 'every target marked external')
  const by = (port: number): typeof results.scenarios => results.scenarios.filter((s) => s.target.external?.port === port)

  for (const s of by(good.port)) {
    t.equal(s.status, 'ok', `${s.id}: ok`)
    const rep = s.repetitions[0]!
    t.ok(rep.load!.requests.completed > 0, `${s.id}: requests completed`)
    t.equal(rep.load!.mismatches, 0)
    t.equal(rep.server.pid, good.pid, 'the given pid is recorded')
    t.ok(rep.tree !== null && rep.tree.samples > 0, `${s.id}: its process tree was sampled (--target-pid)`)
    t.same(rep.server.command, [], 'nothing was started')
  }
  const reasonOf = (port: number): string[] => by(port).map((s) => { t.equal(s.status, 'failed', s.id); return s.reason ?? '' })
  for (const r of reasonOf(refusedPort)) t.match(r, new RegExp(`target 127\\.0\\.0\\.1:${refusedPort} refused the connection \\(ECONNREFUSED\\)`))
  for (const r of reasonOf(liarPort)) t.match(r, new RegExp(`target 127\\.0\\.0\\.1:${liarPort} answered wrongly: expected the echo reply .*got "\\?\\?\\?`))
  for (const r of reasonOf(resetPort)) t.match(r, new RegExp(`target 127\\.0\\.0\\.1:${resetPort} reset the connection \\(ECONNRESET\\)`))
  for (const s of results.scenarios) t.notMatch(s.reason ?? '', /\n/, 'one line')
  t.match(formatSummaryTable(results), /127\.0\.0\.1:\d+ \(external\)/, 'the table marks external targets')
})

t.test('--steady-warmup warms an external target up too, in steps until its rate is steady, before it is measured', async (t) => {
  const server = spawnServer({ command: process.execPath, args: [ECHOPLEX_BIN, 'serve', '--port', '0', '--handler', 'echo'] }, 'external-steady')
  t.teardown(async () => { await server.stop(2000) })
  await server.ready(20_000)
  const suite = withExternalTargets(normalizeSuite({
    name: 'external-steady', durationMs: 600, warmupMs: 100, connections: [4], modes: ['keep-alive'], workloads: [{ handler: 'echo', steadyWarmupMs: 4000 }],
  }), [`127.0.0.1:${server.port}`], [server.pid])
  const results = await runSuite(suite, { outPath: null })
  t.equal(validateResults(JSON.parse(JSON.stringify(results))), null, 'results validate')
  const rep = results.scenarios[0]!.repetitions[0]!
  t.equal(results.scenarios[0]!.status, 'ok')
  t.ok(rep.steadyWarmup != null && rep.steadyWarmup.steps.length >= 1, `warm-up steps recorded (${JSON.stringify(rep.steadyWarmup)})`)
  t.ok(rep.steadyWarmup!.steps.every((rps) => rps > 0), 'each step served requests')
  // the sampler starts after the warm-up: the tree's figures are of the measured load only
  t.ok(rep.tree !== null && rep.tree.samples > 0, 'the process tree sampled')
})
