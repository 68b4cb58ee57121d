import t from 'tap'
import { Client } from '../../server/test/helpers/client.js'
import { runCli, startServer } from '../../server/test/helpers/server.js'

t.test('echoplex ps shows the live tree of a cluster server, found by port', async (t) => {
  const server = await startServer(t, ['--model', 'cluster', '--workers', '2'])
  const c = await Client.open(server.port)
  t.teardown(() => c.destroy())
  c.write('x')
  await c.waitBytes(1)
  const { code, stdout } = await runCli(['ps', '--port', String(server.port)])
  t.equal(code, 0)
  t.match(stdout, /PID\s+PPID\s+ROLE\s+S\s+THR\s+RSS MiB\s+CPU%\s+CONN/, 'columns')
  const rows = stdout.split('\n').filter((l) => /^\s*\d+\s+\d+\s+\w+/.test(l))
  t.equal(rows.length, 3, 'primary and two workers')
  t.match(rows[0], new RegExp(`^\\s*${server.pid}\\s+\\d+\\s+primary\\s`))
  t.equal(rows.filter((r) => /\sworker\s/.test(r)).length, 2)
  const connections = rows.map((r) => Number(r.trim().split(/\s+/)[7]))
  t.equal(connections.reduce((a, b) => a + b, 0), 1, 'the one open connection is counted, on a worker')
  // the tree column shows each process's full title, not comm's 15-character cut of it
  t.match(rows[0], new RegExp(`\\sechoplex primary\\(${server.pid}\\)$`))
  t.equal(rows.filter((r) => /(├─|└─) echoplex worker served=\d+\(\d+\)$/.test(r)).length, 2, 'workers as `echoplex worker served=N(pid)`: the whole title')
  t.notMatch(stdout, /echoplex primar\(/)
})

t.test('echoplex ps --pid refuses a process that is not an echoplex server', async (t) => {
  const { code, stdout, stderr } = await runCli(['ps', '--pid', String(process.pid)])
  t.equal(code, 2)
  t.equal(stdout, '')
  t.equal(stderr.trim(), `echoplex: invalid --pid: process ${process.pid} is not an echoplex server (no such process, or not started by \`echoplex serve\`)`)
  const gone = await runCli(['ps', '--pid', '4194000'])
  t.equal(gone.code, 2)
  t.match(gone.stderr, /invalid --pid: process 4194000 is not an echoplex server/)
})

// strict fork forks its children from a zygote by default; booted children have spares
for (const [boot, expected] of [['zygote', ['connection', 'primary', 'zygote']], ['snapshot', ['connection', 'primary', 'spare', 'spare']]] as const) {
  t.test(`echoplex ps --json on a fork server shows its processes' roles (--child-boot ${boot})`, async (t) => {
    const server = await startServer(t, ['--model', 'fork', '--spares', '2', '--child-boot', boot])
    const c = await Client.open(server.port)
    t.teardown(() => c.destroy())
    c.write('x')
    await c.waitBytes(1)
    await new Promise((resolve) => setTimeout(resolve, 800)) // the spare that took the connection is replaced
    const { code, stdout } = await runCli(['ps', '--pid', String(server.pid), '--json'])
    t.equal(code, 0)
    const tree = JSON.parse(stdout) as { processes: { role: string, pid: number }[] }
    const roles = tree.processes.map((p) => p.role).sort()
    t.same(roles, expected)
  })
}

t.test('echoplex ps on a fork-reuse server shows the connections each child has served', async (t) => {
  const server = await startServer(t, ['--model', 'fork-reuse', '--spares', '1', '--max-children', '1'])
  for (let i = 0; i < 3; i++) {
    const c = await Client.open(server.port)
    c.write('x')
    await c.waitBytes(1)
    c.destroy()
    await c.waitClose()
  }
  await new Promise((resolve) => setTimeout(resolve, 300)) // the child retitles itself once its connection closed
  const { code, stdout } = await runCli(['ps', '--pid', String(server.pid)])
  t.equal(code, 0)
  t.match(stdout, /CONN\s+SERVED\s+TREE/, 'a SERVED column')
  const child = stdout.split('\n').find((l) => /^\s*\d+\s+\d+\s+spare\s/.test(l))
  t.ok(child, 'the one child, idle again')
  t.equal(Number(child!.trim().split(/\s+/)[8]), 3, 'it served the three connections')
})

t.test('echoplex ps: bad input is one line', async (t) => {
  for (const args of [['ps'], ['ps', '--port', '1', '--pid', '2'], ['ps', '--port', '1']]) {
    const { code, stderr } = await runCli(args)
    t.not(code, 0)
    t.equal(stderr.trim().split('\n').length, 1, stderr.trim())
  }
})
