import t from 'tap'
import { copyFileSync, existsSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FORK_CHILD_ENTRY } from '@echoplex/server'
import { buildChildSnapshot, snapshotOptions } from '@echoplex/server/models/fork-snapshot.js'
import { Client } from '../helpers/client.js'
import { fixture, modelStats as stats, runCli, serverEnv, startServer } from '../helpers/server.js'

// fork children started from a V8 startup snapshot of the bundled child (--child-boot, default auto)

type Test = typeof t

/** Blobs go to `dir` for the duration of `t` (nativeBinDir reads the variable on each build). */
function binDirFor (t: Test, dir: string): string {
  const before = process.env.ECHOPLEX_NATIVE_BIN_DIR
  process.env.ECHOPLEX_NATIVE_BIN_DIR = dir
  t.teardown(() => {
    if (before === undefined) delete process.env.ECHOPLEX_NATIVE_BIN_DIR
    else process.env.ECHOPLEX_NATIVE_BIN_DIR = before
  })
  return dir
}

// children as the servers these tests start have them: no Node options (this process has tap's)
const child = { execArgv: [], env: serverEnv() }

// the test command builds first (pretest), bundle included
const bundled = FORK_CHILD_ENTRY.endsWith('.cjs')
t.ok(bundled, `the bundled child is built: ${FORK_CHILD_ENTRY}`)

t.test('a blob is built once per bundle and Node, checked, kept; another bundle gets its own and old ones go after a day', async (t) => {
  const root = t.testdir({ bin: {}, other: {} })
  const dir = binDirFor(t, join(root, 'bin'))
  const first = await buildChildSnapshot(FORK_CHILD_ENTRY, child)
  if (!first.ok) throw new Error(first.reason)
  t.equal(first.upToDate, false, 'built')
  t.ok(first.path.startsWith(dir) && first.path.includes(process.version), first.path)
  t.ok(readFileSync(first.path).byteLength > 1_000_000, 'a heap snapshot (MBs)')
  const again = await buildChildSnapshot(FORK_CHILD_ENTRY, child)
  t.same(again, { ok: true, path: first.path, upToDate: true }, 'kept, not rebuilt')
  // a day-old blob of this Node for another bundle is removed when a new one is built; no temp file stays
  utimesSync(first.path, new Date(Date.now() - 2 * 86400_000), new Date(Date.now() - 2 * 86400_000))
  const copy = join(root, 'other', 'fork-child.cjs')
  copyFileSync(FORK_CHILD_ENTRY, copy)
  writeFileSync(copy, `${readFileSync(copy, 'utf8')}\n// another build\n`)
  const other = await buildChildSnapshot(copy, child)
  if (!other.ok) throw new Error(other.reason)
  t.not(other.path, first.path, 'another bundle, another blob')
  t.notOk(existsSync(first.path), 'the day-old blob of the earlier bundle is gone')
  t.same(readdirSync(dir), [other.path.slice(dir.length + 1)], 'one blob, no temp file')
})

t.test('no blob: an entry that is not the bundle, or one that cannot be snapshotted, says why and leaves nothing', async (t) => {
  const root = t.testdir({ bin: {} })
  const dir = binDirFor(t, join(root, 'bin'))
  const notBundle = await buildChildSnapshot(FORK_CHILD_ENTRY.replace(/\.cjs$/, '.js'), child)
  t.same(notBundle, { ok: false, reason: 'the bundled child is not built (run the build)' })
  const broken = join(root, 'broken.cjs')
  writeFileSync(broken, 'throw new Error("cannot load here")\n')
  const failed = await buildChildSnapshot(broken, child)
  t.equal(failed.ok, false)
  t.match(failed.ok ? '' : failed.reason, /^the snapshot build failed: .*cannot load here/)
  t.same(readdirSync(dir), [], 'no blob and no temp file')
})

t.test('strict fork starts its children from the snapshot: they import handler files at run time, own their faults, and log', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--child-boot', 'snapshot', '--spares', '1', '--handler', fixture('peer-whoami.mjs')])
  const s = await stats(server)
  t.equal(s.extra.boot, 'snapshot')
  t.equal(s.extra.bootNote, undefined)
  // a handler file that imports @echoplex/core, loaded through import() at run time
  const c = await Client.open(server.port)
  t.teardown(() => c.destroy())
  c.write('hello\n')
  await c.until(() => c.data().includes(10), 10_000, 'a reply')
  t.match(c.data().toString(), /^127\.0\.0\.1 \d+ hello\n$/, 'answered by the handler file')

  // a throw from a handler's timer closes its own connection (the fault owner, an AsyncLocalStorage made
  // at run time), and the child logs it (pino, loaded on first use)
  const faulty = await startServer(t, ['--model', 'fork', '--child-boot', 'snapshot', '--spares', '2', '--handler', fixture('fault-line.mjs')])
  t.equal((await stats(faulty)).extra.boot, 'snapshot')
  const [bad, good] = await Promise.all([Client.open(faulty.port), Client.open(faulty.port)])
  t.teardown(() => { bad.destroy(); good.destroy() })
  bad.write('throw later\n')
  await bad.waitClose(10_000)
  t.equal(bad.data().toString(), 'later\n', 'its reply, then its connection closed')
  good.write('still here\n')
  await good.until(() => good.data().includes(10), 10_000, 'a reply')
  t.equal(good.data().toString(), 'still here\n', 'the other connection is served')
  t.match(faulty.stderr(), /"role":"connection".*handler code threw outside its hook/, 'the child logged the fault')
})

t.test('--child-boot: bundle boots from the bundle; a TypeScript handler boots from it too (auto) or is one line of error (snapshot)', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--child-boot', 'bundle', '--handler', 'echo'])
  const s = await stats(server)
  t.equal(s.extra.boot, 'bundle')
  t.equal(s.extra.bootNote, undefined, 'asked for: nothing to explain')

  const ts = t.testdir({ 'h.ts': "const answer: string = 'ts'\nexport default { name: 'ts', framing: 'line', onMessage: (line: string) => `${answer} ${line}\\n` }\n" })
  const auto = await startServer(t, ['--model', 'fork', '--handler', join(ts, 'h.ts')])
  const a = await stats(auto)
  t.equal(a.extra.boot, 'bundle')
  t.match(a.extra.bootNote, /^zygote not used: the handler needs module hooks.*; startup snapshot not used: the handler needs module hooks/)
  const c = await Client.open(auto.port)
  t.teardown(() => c.destroy())
  c.write('x\n')
  await c.until(() => c.data().includes(10), 15_000, 'a reply')
  t.equal(c.data().toString(), 'ts x\n')

  const refused = await runCli(['serve', '--model', 'fork', '--port', '0', '--child-boot', 'snapshot', '--handler', join(ts, 'h.ts')], 30_000)
  t.equal(refused.code, 2)
  t.match(refused.stderr.trim(), /^echoplex: invalid --child-boot: a startup snapshot cannot be used: the handler needs module hooks/)
  t.equal(refused.stderr.trim().split('\n').length, 1, 'one line, no stack')
})

t.test('a blob matches the V8 options children start with (V8 refuses one built with others); profiling options do not count', async (t) => {
  t.same(snapshotOptions(['--max-old-space-size=256', '--cpu-prof', '--cpu-prof-dir=/p', '--heap-prof-dir', '/h', '--enable-source-maps']), ['--max-old-space-size=256', '--enable-source-maps'])
  const root = t.testdir({ bin: {} })
  binDirFor(t, join(root, 'bin'))
  const plain = await buildChildSnapshot(FORK_CHILD_ENTRY, child)
  const sized = await buildChildSnapshot(FORK_CHILD_ENTRY, { execArgv: ['--max-old-space-size=256'], env: serverEnv() })
  const viaEnv = await buildChildSnapshot(FORK_CHILD_ENTRY, { execArgv: [], env: serverEnv({ NODE_OPTIONS: '--max-old-space-size=256' }) })
  if (!plain.ok || !sized.ok || !viaEnv.ok) throw new Error('a build failed')
  t.equal(new Set([plain.path, sized.path, viaEnv.path]).size, 3, 'a blob per set of options')
  t.equal(sized.upToDate, false, 'built (and checked) with the option')

  // a server whose children inherit a V8 option: they boot from a blob built with it, and serve
  const server = await startServer(t, ['--model', 'fork', '--child-boot', 'snapshot', '--handler', 'echo'], { env: { NODE_OPTIONS: '--max-old-space-size=300' } })
  t.equal((await stats(server)).extra.boot, 'snapshot')
  const c = await Client.open(server.port)
  t.teardown(() => c.destroy())
  c.write('ping')
  await c.until(() => c.data().length >= 4, 10_000, 'the echo')
  t.equal(c.data().toString(), 'ping')
})
