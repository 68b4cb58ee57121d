/** `echoplex dashboard`: starts the dashboard app, serves the results folder, stops cleanly on SIGTERM. */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ECHOPLEX_BIN, REPO_ROOT, runCli, serverEnv } from '../../server/test/helpers/server.js'

const FIXTURES = fileURLToPath(new URL('../../dashboard/test/fixtures/', import.meta.url))
const FIXTURE = readdirSync(join(FIXTURES, 'results')).find((f) => f.endsWith('.json'))!

interface Started { child: ChildProcess, url: string, line: string, stdout: () => string, stderr: () => string, exit: Promise<number | null> }

/** Starts `echoplex dashboard ARGS` and waits for its `dashboard URL …` line. */
async function start (t: { teardown (fn: () => unknown): void }, args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [ECHOPLEX_BIN, 'dashboard', ...args], { cwd: REPO_ROOT, env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const exit = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no dashboard line in 20 s: ${stderr}`)), 20_000)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      const m = /^dashboard .*$/m.exec(stdout)
      if (m !== null) { clearTimeout(timer); resolve(m[0]) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${stderr}`)) })
  })
  const url = /^dashboard (\S+?)\/? /.exec(line)![1]!
  return { child, url, line, stdout: () => stdout, stderr: () => stderr, exit }
}

const run = async (args: string[]): ReturnType<typeof runCli> => await runCli(args, 20_000)

const dir = mkdtempSync(join(tmpdir(), 'echoplex-dashboard-cli-'))
copyFileSync(join(FIXTURES, 'results', FIXTURE), join(dir, FIXTURE))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('echoplex dashboard --port 0 --results DIR serves that folder on 127.0.0.1 and exits 0 on SIGTERM', async (t) => {
  const d = await start(t, ['--port', '0', '--results', dir])
  t.match(d.line, /^dashboard http:\/\/127\.0\.0\.1:\d+\/ results=\S+ pid=\d+$/)
  const list = await (await fetch(`${d.url}/api/results`)).json() as { dir: string, results: Array<{ name: string, suite: string }> }
  t.equal(list.dir, dir)
  t.match(list.results, [{ name: FIXTURE, suite: 'tiny' }])
  const index = await fetch(`${d.url}/`)
  t.equal(index.status, 200)
  t.match(await index.text(), `/runs/${FIXTURE}`)
  const report = await fetch(`${d.url}/runs/${FIXTURE}`)
  t.equal(report.status, 200)
  t.match(await report.text(), /<svg[\s>]/)
  const bad = await fetch(`${d.url}/api/results/..%2F..%2Fetc%2Fpasswd`)
  t.equal(bad.status, 400)
  t.equal(d.stderr(), '', 'no warning on loopback')
  d.child.kill('SIGTERM')
  t.equal(await d.exit, 0)
})

t.test('a host beyond loopback prints a warning', async (t) => {
  const d = await start(t, ['--port', '0', '--host', '0.0.0.0', '--results', dir])
  t.match(d.line, /^dashboard http:\/\/0\.0\.0\.0:\d+\//)
  t.match(d.stderr(), /^echoplex: warning: binding the dashboard to 0\.0\.0\.0/)
  t.notMatch(d.stdout(), /"level"/, 'warned once')
  d.child.kill('SIGINT')
  t.equal(await d.exit, 0)
})

t.test('bad input: one line, non-zero exit, no stack trace', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const cases: Array<[string[], number, RegExp]> = [
    [['dashboard', '--port', 'many'], 2, /--port/],
    [['dashboard', '--port', '70000'], 2, /0 to 65535/],
    [['dashboard', '--results', join(dir, 'nope')], 2, /invalid --results: no such folder/],
    [['dashboard', '--log-level', 'loud'], 2, /invalid --log-level/],
    [['dashboard', '--port', String(port)], 1, new RegExp(`address already in use: 127\\.0\\.0\\.1:${port}`)],
  ]
  for (const [args, code, message] of cases) {
    const r = await run(args)
    t.equal(r.code, code, args.join(' '))
    t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr.trim()}`)
    t.match(r.stderr, message)
    t.notMatch(r.stderr, /\n\s+at /)
  }
})

t.test('--help documents the flags', async (t) => {
  const r = await run(['dashboard', '--help'])
  t.equal(r.code, 0)
  for (const flag of ['--port', '--host', '--results', '--suites', '--log-level']) t.match(r.stdout, flag)
  t.match((await run(['--help'])).stdout, /dashboard/)
})
