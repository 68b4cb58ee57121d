import t from 'tap'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  readProcessTree,
  readProcessTreeWithCpu,
  findServerPid,
  countZombies,
  formatTree,
  treeTotals,
  roleFrom,
  roleOf,
  servedFrom,
  type ProcessInfo,
} from '../src/index.js'
import { spawnGroup, firstLine, waitFor } from './fixtures/helpers.js'

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

t.test('readProcessTree reads a 3-process tree with roles, links and connections', async (t) => {
  const child = spawnGroup(t, process.execPath, [fixture('tree.mjs')], {
    env: { ...process.env, ECHOPLEX_ROLE: 'primary' },
  })
  const info = JSON.parse(await firstLine(child)) as { port: number, primary: number, worker: number, connection: number }
  t.equal(info.primary, child.pid)

  const tree = await readProcessTree(info.primary)
  t.equal(tree.rootPid, info.primary)
  t.equal(tree.processes.length, 3, 'three processes')
  const byPid = new Map(tree.processes.map((p) => [p.pid, p]))
  const primary = byPid.get(info.primary) as ProcessInfo
  const worker = byPid.get(info.worker) as ProcessInfo
  const connection = byPid.get(info.connection) as ProcessInfo
  t.ok(primary && worker && connection, 'all three found')
  t.equal(tree.processes[0]?.pid, info.primary, 'root first')
  t.equal(primary.depth, 0)
  t.equal(worker.ppid, info.primary)
  t.equal(connection.ppid, info.primary)
  t.equal(worker.depth, 1)
  t.same(primary.children.slice().sort(), [info.worker, info.connection].sort())
  t.equal(primary.role, 'primary')
  t.equal(primary.roleSource, 'environ')
  t.equal(worker.role, 'worker')
  t.equal(connection.role, 'connection')
  for (const p of tree.processes) {
    t.equal(p.comm, 'node')
    t.match(p.cmdline, /tree\.mjs/)
    t.ok(p.threads >= 1, `threads ${p.threads}`)
    t.ok(p.rssBytes > 0, `rss ${p.rssBytes}`)
    t.ok(p.pssBytes === null || p.pssBytes > 0, 'pss null or positive')
    t.ok(p.cpuUserSec + p.cpuSystemSec >= 0)
    t.ok(p.voluntaryCtxSwitches === null || p.voluntaryCtxSwitches >= 0)
    t.match(p.state, /^[RSD]$/)
    t.ok(Math.abs(p.startTimeMs - Date.now()) < 120_000, 'start time is recent')
    t.equal(p.cpuPercent, null)
  }
  t.equal(primary.connections, 1, 'primary holds the accepted side')
  t.equal(worker.connections, 1, 'worker holds the client side')
  t.equal(connection.connections, 0, 'IPC socketpairs are not connections')
  t.same(primary.listeningPorts, [info.port])
  t.same(primary.listening, [`127.0.0.1:${info.port}`])
  t.same(worker.listeningPorts, [])

  const totals = treeTotals(tree)
  t.equal(totals.processes, 3)
  t.equal(totals.connections, 2)
  t.equal(totals.zombies, 0)

  t.equal(await findServerPid({ port: info.port }), info.primary, 'findServerPid → the primary')

  const withCpu = await readProcessTreeWithCpu(info.primary, 150)
  t.equal(withCpu.processes.length, 3)
  t.ok((withCpu.cpuSpanMs ?? 0) >= 140, `span ${withCpu.cpuSpanMs}`)
  for (const p of withCpu.processes) t.ok(typeof p.cpuPercent === 'number' && p.cpuPercent >= 0)

  const text = formatTree(withCpu)
  t.match(text, /PID\s+PPID\s+ROLE\s+S\s+THR\s+RSS MiB\s+CPU%\s+CONN\s+SERVED\s+TREE/)
  t.match(text, new RegExp(`^\\s*${info.primary}\\s.*primary.*node\\(${info.primary}\\)`, 'm'))
  t.match(text, new RegExp(`(├─|└─) node\\(${info.worker}\\)`))
  t.match(text, new RegExp(`└─ node\\(${Math.max(info.worker, info.connection)}\\)`))
  t.match(text, /3 processes, \d+ threads, RSS [\d.]+ MiB/)
  t.match(text, new RegExp(`listening 127\\.0\\.0\\.1:${info.port}`))
  t.equal(text.trimEnd().split('\n').length, 5, 'header + 3 rows + totals')
})

t.test('findServerPid returns the topmost ancestor when cluster workers share the socket', async (t) => {
  const child = spawnGroup(t, process.execPath, [fixture('cluster.mjs')])
  const info = JSON.parse(await firstLine(child)) as { port: number, primary: number, workers: number[] }
  const tree = await readProcessTree(info.primary, { pss: false })
  t.equal(tree.processes.length, 3)
  const holders = tree.processes.filter((p) => p.listeningPorts.includes(info.port)).map((p) => p.pid)
  t.ok(holders.length >= 2, `socket shared by ${holders.join(',')}`)
  t.equal(await findServerPid({ port: info.port }), info.primary)
})

t.test('gone and unknown processes never throw', async (t) => {
  // a pid far above pid_max is never live
  const tree = await readProcessTree(2 ** 30)
  t.same(tree.processes, [])
  t.equal(await countZombies(2 ** 30), 0)
  t.match(formatTree(tree), /no process/)
  t.equal(await findServerPid({ port: 1 }), null)
  await t.rejects(findServerPid({}), TypeError)
})

/**
 * The real python3 executable when one runs here, else null. (Resolved through sys.executable so
 * that a pyenv-style shim script, whose own short-lived helpers would be zombies too, is skipped.)
 */
function python (): string | null {
  try {
    const exe = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 }).trim()
    return exe === '' ? null : exe
  } catch {
    return null
  }
}

t.test('countZombies sees an unreaped child', async (t) => {
  // Preferred: a python parent that forks a child which exits at once, and reaps it only on
  // SIGTERM (so nothing is left for init). Fallback: `sleep 0 & exec sleep 5` — the backgrounded
  // `sleep 0` exits, but its parent has exec'd `sleep 5`, which never waits.
  const py = python()
  const child = py !== null
    ? spawnGroup(t, py, ['-c', [
      'import os, signal, time',
      'pid = os.fork()',
      'if pid == 0: os._exit(0)',
      'def term(*_):',
      '    os.waitpid(pid, 0)',
      '    os._exit(0)',
      'signal.signal(signal.SIGTERM, term)',
      'time.sleep(30)',
    ].join('\n')], { stdio: 'ignore' })
    : spawnGroup(t, 'sh', ['-c', 'sleep 0 & exec sleep 5'], { stdio: 'ignore' })
  const pid = child.pid as number
  const zombies = await waitFor(() => countZombies(pid), (n) => n >= 1, 5000)
  t.ok(zombies >= 1, `zombies: ${zombies}`)
  const tree = await readProcessTree(pid)
  const z = tree.processes.find((p) => p.state === 'Z')
  t.ok(z, 'a zombie in the tree')
  t.equal(z?.stateName, 'zombie')
  t.equal(z?.ppid, pid)
  t.equal(z?.cmdline, '')
  t.equal(treeTotals(tree).zombies, zombies)
  t.match(formatTree(tree), /\sZ\s/)
  if (py !== null) {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
    t.equal(child.exitCode, 0, 'parent reaped its zombie and exited')
  }
})

t.test('roleFrom: argv marker beats environ; unknown otherwise', async (t) => {
  t.equal(roleFrom('node server.js --echoplex-role=spare', 'ECHOPLEX_ROLE=connection\0'), 'spare')
  t.equal(roleFrom('node server.js', 'A=1\0ECHOPLEX_ROLE=worker\0B=2\0'), 'worker')
  t.equal(roleFrom('node server.js', 'NOT_ECHOPLEX_ROLE=worker\0'), 'unknown')
  t.equal(roleFrom('node server.js', null), 'unknown')
  t.equal(roleFrom('echoplex connection --echoplex-role connection', null), 'connection')
  // process.title as the echoplex models set it
  t.same(roleOf('echoplex spare', 'ECHOPLEX_ROLE=spare\0'), { role: 'spare', source: 'title' })
  t.same(roleOf('echoplex connection', 'ECHOPLEX_ROLE=spare\0'), { role: 'connection', source: 'title' })
  t.same(roleOf('node x.js', 'ECHOPLEX_ROLE=worker\0'), { role: 'worker', source: 'environ' })
  t.same(roleOf('node echoplex-bench.js', null), { role: 'unknown', source: 'none' })
})

t.test('servedFrom: the connections a child shows in its title', async (t) => {
  t.equal(servedFrom('echoplex spare served=12'), 12)
  t.equal(servedFrom('echoplex connection served=0'), 0)
  t.equal(servedFrom('echoplex worker served=3405'), 3405)
  t.equal(servedFrom('echoplex primary'), null, 'a primary shows none')
  t.equal(servedFrom('node app.js served=4'), null, 'only an echoplex title counts')
  t.equal(servedFrom('echoplex spare served=x'), null)
})

t.test('roles from process.title, and an unmarked root above marked children is the primary', async (t) => {
  const script = [
    "const { fork } = require('node:child_process')",
    "if (process.argv[2] === 'child') {",
    "  process.title = 'echoplex connection'",
    "  process.on('disconnect', () => process.exit(0))",
    "  process.send('ready')",
    "  setInterval(() => {}, 1e9)",
    "} else {",
    "  const c = fork(__filename, ['child'], { env: { ...process.env, ECHOPLEX_ROLE: 'spare' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })",
    "  c.on('message', () => console.log(c.pid))",
    "  process.on('SIGTERM', () => { c.once('exit', () => process.exit(0)); c.kill() })",
    "}",
  ].join('\n')
  const dir = await mkdtemp(join(tmpdir(), 'echoplex-proc-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'title.cjs')
  await writeFile(file, script)
  const child = spawnGroup(t, process.execPath, [file], { env: { ...process.env, ECHOPLEX_ROLE: '' } })
  const kid = Number(await firstLine(child))
  const tree = await readProcessTree(child.pid as number)
  const root = tree.processes[0]
  const k = tree.processes.find((p) => p.pid === kid)
  t.equal(k?.role, 'connection', 'title beats the spawn-time environ')
  t.equal(k?.roleSource, 'title')
  t.equal(k?.cmdline, 'echoplex connection')
  t.equal(root?.role, 'primary')
  t.equal(root?.roleSource, 'inferred')
})
