import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expandSuite, listSuites, loadSuite, loadSuiteWithModels, normalizeSuite, SuiteError } from '../../src/runner/suite.js'
import { windowStats, type SampleRecord } from '../../src/runner/window.js'
import { workExpect } from '../../src/runner/load.js'
import { cleanEnv } from '../../src/runner/server.js'
import { serverSpec } from '../../src/runner/run.js'

const dir = mkdtempSync(join(tmpdir(), 'echoplex-units-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('the shipped suites load and expand', async (t) => {
  t.same(listSuites(), ['churn', 'cpu', 'quick', 'standard'])
  for (const name of listSuites()) {
    const s = loadSuite(name)
    t.ok(expandSuite(s).length > 0, `${name} expands`)
  }
  const quick = loadSuite('quick')
  const ids = expandSuite(quick).map((s) => `${s.workload.name}@${s.target.label}`)
  for (const m of ['event-loop', 'cluster', 'fork', 'pool']) {
    t.ok(ids.includes(`echo@${m}`) && ids.includes(`http@${m}`), `quick runs ${m}`)
  }
  for (const p of ['node-net', 'c-epoll', 'py-forking', 'py-threading']) t.ok(ids.includes(`echo@${p}`), `quick runs peer ${p}`)
  t.ok(ids.includes('http@node-http'))
  t.notOk(ids.includes('http@node-net'), 'raw peers never serve http workloads')
  const std = loadSuite('standard')
  const sc = expandSuite(std)
  t.same([...new Set(sc.map((s) => s.payloadBytes))].sort((a, b) => a - b), [64, 4096, 65536])
  t.same([...new Set(sc.map((s) => s.connections))].sort((a, b) => a - b), [1, 16, 256])
  t.same([...new Set(sc.map((s) => s.mode))].sort(), ['churn', 'keep-alive'])
  t.ok(sc.some((s) => s.workload.expect === 'work'), 'standard includes the work handler')
  // work's defaults are written out, so results say what ran and compare tells other defaults apart
  const cpu = expandSuite(loadSuite('cpu'))
  t.same([...new Set(cpu.map((s) => `${s.workload.name} ${JSON.stringify(s.workload.options)}`))].sort(), [
    'work {"rounds":"15000","digest":"js"}',
    'work-alloc {"rounds":"2000","digest":"node-crypto"}',
  ])
  const fromFlags = expandSuite(loadSuite('quick', { workloads: ['work'] }))
  t.same(fromFlags[0]!.workload.options, { rounds: '15000', digest: 'js' }, '--workloads work: the defaults, written out')
  t.equal(std.repetitions, 3)
})

t.test('a model target with serve options of its own: recorded, and passed after the model\'s sizing', async (t) => {
  const churn = expandSuite(loadSuite('churn'))
  const booted = churn.find((s) => s.target.label === 'fork-booted')!
  t.same(booted.target.args, ['--child-boot', 'snapshot'], 'the churn suite runs strict fork booted, beside its default')
  t.equal(booted.target.spares, 4)
  const argv = serverSpec(booted).args
  t.same(argv.slice(-2), ['--child-boot', 'snapshot'], 'last: they win over the model\'s own')
  t.ok(argv.includes('--spares'), 'the model\'s sizing is still there')
  const plain = churn.find((s) => s.target.label === 'fork')!
  t.equal(plain.target.args, undefined, 'a target without them records none')
  t.notOk(serverSpec(plain).args.includes('--child-boot'))
  const e = t.throws(() => normalizeSuite({ name: 'x', workloads: [{ handler: 'echo' }], models: [{ model: 'fork', args: [''] }] }, '/x/suite.json')) as Error
  t.ok(e instanceof SuiteError, `an empty option is refused: ${e.message}`)
})

t.test('overrides', async (t) => {
  const s = loadSuite('quick', { models: ['fork'], workloads: ['http', 'upper'], peers: false, durationMs: 700, connections: [1, 4], repetitions: 2 })
  t.same(s.models.map((m) => m.label), ['fork'])
  t.same(s.workloads.map((w) => w.name), ['http', 'upper'])
  t.same(s.peers, [])
  t.equal(s.repetitions, 2)
  t.ok(s.workloads.every((w) => w.durationMs === 700 && w.connections.join() === '1,4'))
  t.equal(expandSuite(s).filter((x) => x.fixedRate == null).length, 4)
  // the quick suite asks for fixed-rate scenarios: one for the raw TCP workload (http has none)
  t.same(expandSuite(s).filter((x) => x.fixedRate != null).map((x) => x.id), ['upper:fork:64B:c1:keep-alive@fixed-rate'])
  const w = loadSuite('quick', { workers: 3 })
  t.equal(w.models.find((m) => m.name === 'cluster')?.workers, 3)
  t.equal(w.models.find((m) => m.name === 'fork')?.workers, null)
  t.equal(w.loadEngine, 'auto', 'the generator engine defaults to auto')
  t.equal(loadSuite('quick', { loadEngine: 'node' }).loadEngine, 'node')
  t.equal(normalizeSuite({ name: 'x', workloads: [{ handler: 'echo' }], loadEngine: 'native' }, '/x/suite.json').loadEngine, 'native')
})

t.test('bad suites give one-line errors', async (t) => {
  const bad = (data: unknown, re: RegExp): void => {
    const e = t.throws(() => normalizeSuite(data, '/x/suite.json')) as Error
    t.ok(e instanceof SuiteError, `a SuiteError: ${e.message}`)
    t.equal((e as SuiteError).code, 'EPX_BAD_SUITE')
    t.equal((e as SuiteError).exitCode, 2, 'a usage error')
    t.match(e.message, re)
    t.notMatch(e.message, /\n/, 'one line')
  }
  bad({ workloads: [{ handler: 'echo' }] }, /suite \/x\/suite\.json: \(top level\): missing "name"/)
  bad({ name: 'x', workloads: [] }, /\/workloads: must NOT have fewer than 1 items/)
  bad({ name: 'x', workloads: [{ handler: 'echo' }], modes: ['sometimes'] }, /\/modes\/0: must be one of: "keep-alive", "churn"/)
  bad({ name: 'x', workloads: [{ handler: 'echo' }], frobnicate: 1 }, /\(top level\): unknown field "frobnicate"/)
  bad({ name: 'x', workloads: [{ handler: 'echo' }], models: ['threads'] }, /unknown model "threads"/)
  bad({ name: 'x', workloads: [{ handler: 'nope' }] }, /unknown handler "nope"/)
  bad({ name: 'x', workloads: [{ handler: 'chat' }] }, /cannot be benchmarked/)
  bad({ name: 'x', workloads: [{ handler: 'echo' }], peers: ['node-nett'] }, /unknown peer "node-nett"/)
  bad({ name: 'x', workloads: [{ handler: 'echo' }], loadEngine: 'turbo' }, /\/loadEngine: must be one of: "auto", "node", "native"/)
  t.throws(() => loadSuite('no-such-suite'), /unknown suite "no-such-suite" \(expected one of: churn, cpu, quick, standard/)
  const notJson = join(dir, 'bad.json')
  writeFileSync(notJson, '{ nope')
  t.throws(() => loadSuite(notJson), /not valid JSON/)
})

t.test('the measured window is cut out of the samples', async (t) => {
  const rec = (at: number, cpuPercent: number, rssBytes: number, processes = 1): SampleRecord =>
    ({ at, cpuPercent, rssBytes, pssBytes: rssBytes / 2, processes, threads: processes * 10, zombies: 0 })
  // 100 % of one core from 0 to 1000, 200 % from 1000 to 2000, 0 % after
  const records = [rec(0, NaN, 100), rec(500, 100, 100), rec(1000, 100, 200, 2), rec(1500, 200, 300, 3), rec(2000, 200, 300, 3), rec(2500, 0, 100)]
  const w = windowStats(records, 750, 1750)!
  // 250 ms at 100 % + 750 ms at 200 % = 0.25 + 1.5 s
  t.equal(w.cpuSec, 1.75)
  t.equal(w.cpuPercent, 175)
  t.equal(w.samples, 2, 'samples at 1000 and 1500')
  t.same(w.rssBytes, { max: 300, mean: 250 })
  t.same(w.processes, { max: 3, mean: 2.5 })
  t.same(w.pssBytes, { max: 150, mean: 125 })
  t.equal(windowStats(records.slice(0, 1), 0, 100), null, 'one sample is not enough')
  t.equal(windowStats(records, 100, 120)!.samples, 1, 'a window between two samples uses the nearest')
})

t.test('expected work replies and a clean environment', async (t) => {
  // the work handler's reply: sha256(sha256("abc")) for 2 rounds, memoized on a second ask
  const expect = workExpect(2)
  t.equal(Buffer.from(expect(Buffer.from('abc'))).toString('hex'), '4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358')
  t.equal(Buffer.from(expect(Buffer.from('abc'))).toString('hex'), '4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358')
  const saved = process.env.NODE_OPTIONS
  t.teardown(() => {
    if (saved === undefined) delete process.env.NODE_OPTIONS
    else process.env.NODE_OPTIONS = saved
    delete process.env.TAP_TEST_VAR
  })
  process.env.NODE_OPTIONS = '--import=something'
  process.env.TAP_TEST_VAR = '1'
  const env = cleanEnv({ EXTRA: 'x' })
  t.equal(env.NODE_OPTIONS, undefined)
  t.equal(env.TAP_TEST_VAR, undefined)
  t.equal(env.EXTRA, 'x')
  t.equal(env.PATH, process.env.PATH)
})

t.test('a process started with the clean environment runs without NODE_OPTIONS, under tap too', async (t) => {
  // tap's process tracking puts its module hooks back into every spawn's NODE_OPTIONS unless its spawn
  // hook is removed (scripts/tap-spawn-clean.mjs); a server under test must not boot with them
  const env = cleanEnv()
  t.equal(env.NODE_OPTIONS, undefined)
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(process.env.NODE_OPTIONS ?? null))'], { env, encoding: 'utf8' })
  t.equal(child.status, 0, child.stderr)
  t.equal(JSON.parse(child.stdout), null, `the child's NODE_OPTIONS: ${child.stdout}`)
})

t.test('a suite workload with a handler file takes the handler\'s framing; loadScript makes it a script workload without peers', async (t) => {
  const sub = mkdtempSync(join(dir, 'files-'))
  writeFileSync(join(sub, 'len.mjs'), "export default { name: 'len', framing: 'length', onMessage (m) { return m } }\n")
  writeFileSync(join(sub, 'load.mjs'), 'export default { request (n) { return `r${n}` }, reply (n) { return `r${n}` } }\n')
  const file = join(sub, 'suite.json')
  writeFileSync(file, JSON.stringify({ name: 'files', models: ['event-loop'], workloads: [{ handler: './len.mjs' }, { name: 'scripted', handler: './len.mjs', loadScript: './load.mjs' }] }))
  const suite = await loadSuiteWithModels(file)
  t.same(suite.workloads.map((w) => [w.name, w.framing, w.expect, w.loadScript ?? null, w.peers]), [
    ['len', 'length', 'echo', null, true],
    ['scripted', 'length', 'script', join(sub, 'load.mjs'), false],
  ])
  t.same(expandSuite(suite).filter((s) => s.workload.name === 'scripted').map((s) => s.target.kind), ['model'], 'no peers for a script workload')
  const other = join(sub, 'other.json')
  writeFileSync(other, JSON.stringify({ name: 'other', workloads: [{ handler: './never-loaded.mjs' }] }))
  t.throws(() => loadSuite(other), { code: 'EPX_BAD_SUITE', message: /needs "framing"/ })
  writeFileSync(join(sub, 'bad-load.mjs'), 'export default { request () { return "x" } }\n')
  writeFileSync(other, JSON.stringify({ name: 'other', models: ['event-loop'], workloads: [{ handler: './len.mjs', loadScript: './bad-load.mjs' }] }))
  await t.rejects(loadSuiteWithModels(other), { code: 'EPX_LOAD_SCRIPT', message: /needs reply\(n, request\) or check/ })
})
