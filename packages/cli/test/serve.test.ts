import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { modelNames } from '@echoplex/server'
import { Client } from '../../server/test/helpers/client.js'
import { fixture, runCli, startServer } from '../../server/test/helpers/server.js'

/** A user error: one line on stderr, a non-zero exit, no stack trace. */
async function expectUserError (t: typeof import('tap').default, args: string[], pattern: RegExp): Promise<void> {
  const { code, stderr, stdout } = await runCli(args)
  t.not(code, 0, `${args.join(' ')}: non-zero exit`)
  t.equal(stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line (${stderr.trim()})`)
  t.match(stderr, pattern)
  t.notMatch(stderr, /\n\s+at /, 'no stack trace')
  t.notMatch(stdout, /listening/)
}

t.test('bad input gives one line and a non-zero exit', async (t) => {
  await expectUserError(t, ['serve', '--model', 'threads'], new RegExp(`unknown model "threads" \\(expected one of: ${modelNames().join(', ')}\\)`))
  await expectUserError(t, ['serve', '--port', 'seventy'], /--port/)
  await expectUserError(t, ['serve', '--port', '70000'], /0 to 65535/)
  await expectUserError(t, ['serve', '--handler', 'no-such-handler'], /unknown handler "no-such-handler"/)
  await expectUserError(t, ['serve', '--handler', fixture('broken-load.mjs')], /failed to load: this handler cannot load/)
  await expectUserError(t, ['serve', '--handler', fixture('not-a-handler.mjs')], /not a valid handler: missing a string "name"/)
  await expectUserError(t, ['serve', '--max-message', 'lots'], /--max-message/)
  await expectUserError(t, ['serve', '--unix', '/tmp/x.sock', '--host', '::1'], /--unix: cannot be combined with --host/)
  await expectUserError(t, ['serve', '--frobnicate'], /unknown option '--frobnicate'/)
  await expectUserError(t, ['launch'], /unknown command 'launch'/)
  // a handler's declared options are checked before anything serves
  await expectUserError(t, ['serve', '--handler', 'work', '--option', 'rounds=abc'], /^echoplex: invalid --option: rounds=abc: must be a whole number ≥ 1\n$/)
  await expectUserError(t, ['serve', '--handler', 'work', '--option', 'rounds=0', '--model', 'cluster'], /invalid --option: rounds=0: must be a whole number ≥ 1/)
  await expectUserError(t, ['serve', '--handler', 'work', '--option', 'round=5'], /invalid --option: round: handler work has no such option \(it has: rounds, digest\)/)
  await expectUserError(t, ['serve', '--handler', 'work', '--option', 'digest=openssl'], /^echoplex: invalid --option: digest=openssl: must be one of js, node-crypto\n$/)
  // a UNIX socket in a folder that is not there says so (not "permission denied")
  await expectUserError(t, ['serve', '--unix', join(tmpdir(), `echoplex-no-such-dir-${process.pid}`, 's.sock')], /^echoplex: invalid --unix: directory \S+echoplex-no-such-dir-\d+ does not exist\n$/)
})

t.test('--help shows defaults as they are typed: 8MiB, 120s', async (t) => {
  const { stdout } = await runCli(['serve', '--help'])
  const flat = stdout.replace(/\s+/g, ' ')
  t.match(flat, /--max-message <size> .*\(default: 8MiB\)/)
  t.match(flat, /--max-header <size> largest HTTP request head \(default: 16KiB\)/)
  t.match(flat, /--idle-timeout <duration> .*\(default: 120s\)/)
  t.match(flat, /--frame-timeout <duration> .*\(default: 30s\)/)
  t.match(flat, /--grace <duration> .*\(default: 10s\)/)
  t.match(flat, /--heartbeat <duration> .*\(default: 5s\)/)
  t.notMatch(flat, /default: (8388608|120000|16384)/)
})

t.test('a port in use is refused with one line', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  await expectUserError(t, ['serve', '--port', String(port)], new RegExp(`address already in use: 127\\.0\\.0\\.1:${port}`))
})

t.test('--help documents every flag', async (t) => {
  const { code, stdout } = await runCli(['serve', '--help'])
  t.equal(code, 0)
  for (const flag of ['--model', '--handler', '--host', '--port', '--unix', '--workers', '--sched', '--max-children', '--spares',
    '--max-connections', '--max-message', '--idle-timeout', '--frame-timeout', '--grace', '--option']) {
    t.match(stdout, flag, flag)
  }
})

t.test('IPv6 loopback', async (t) => {
  const server = await startServer(t, ['--host', '::1'])
  t.match(server.address, /^\[::1\]:\d+$/)
  const c = await Client.open(server.port, '::1')
  t.teardown(() => c.destroy())
  c.write('over v6')
  t.equal((await c.waitBytes(7)).toString(), 'over v6')
  t.equal(server.stderr(), '', 'no warning for loopback')
})

t.test('UNIX sockets: served, a stale file replaced, a live one not stolen', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'echo.sock')

  // a stale socket file: bound by a server that is gone without unlinking it
  const stale = createServer()
  await new Promise<void>((resolve) => stale.listen(path, resolve))
  // close() unlinks the file, so simulate the dead server by taking the handle away from under it
  ;(stale as unknown as { _handle: { close: () => void } | null })._handle?.close()

  const server = await startServer(t, ['--unix', path])
  t.equal(server.address, `unix:${path}`)
  const sock = connect(path)
  t.teardown(() => sock.destroy())
  const got = await new Promise<string>((resolve) => { sock.once('data', (d) => resolve(d.toString())); sock.write('via unix') })
  t.equal(got, 'via unix')

  await expectUserError(t, ['serve', '--unix', path], /belongs to a live server/)
  t.equal(await server.stop(), 0)
})
