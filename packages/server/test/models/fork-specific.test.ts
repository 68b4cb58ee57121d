import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Client } from '../helpers/client.js'
import { fixture, modelStats as stats, startServer } from '../helpers/server.js'
import { alive, countZombies, lingeringZombies, pidsWithRole, readProcessTree, waitFor } from '../helpers/proc.js'

async function echoOnce (port: number, payload: Buffer): Promise<Buffer> {
  const c = await Client.open(port)
  try {
    c.write(payload)
    return await c.waitBytes(payload.length, 20_000)
  } finally {
    c.destroy()
  }
}

t.test('hundreds of connections: every child reaped, no zombie, bytes written on connect are not lost', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--spares', '4', '--handler', 'echo'])
  let wrong = 0
  for (let batch = 0; batch < 20; batch++) {
    const replies = await Promise.all(Array.from({ length: 10 }, async () => {
      // written the moment the connection opens: before the primary hands the socket to a child
      const payload = randomBytes(2048)
      return (await echoOnce(server.port, payload)).equals(payload)
    }))
    wrong += replies.filter((ok) => !ok).length
  }
  t.equal(wrong, 0, '200 connections, each echoed exactly')
  // a child can echo before the primary has read its `forked` (the zygote's) and `serving` (its own):
  // the counts catch up within a moment
  let s = await stats(server)
  await waitFor(async () => { s = await stats(server); return s.extra.spawned >= 200 && s.extra.spawnWaitMs.count >= 200 }, 3000, 'the counts').catch(() => {})
  t.ok(s.extra.spawned >= 200, `spawned ${s.extra.spawned} children`)
  t.equal(s.extra.spawnWaitMs.count, 200, 'a spawn wait recorded for every connection')
  t.ok(s.extra.spawnWaitMs.p50Ms > 0, `median connect → child serving: ${s.extra.spawnWaitMs.p50Ms} ms`)
  await waitFor(async () => (await readProcessTree(server.pid, { pss: false })).processes.length <= 1 + 4, 10_000, 'children to exit')
  // a child that just exited is a zombie until the primary's next loop turn reaps it, and the last ones
  // may still be exiting: only one that stays unreaped is a fault (a full run under load caught one in between)
  t.same(await lingeringZombies(server.pid), [], 'no zombie children')
  t.equal(await server.stop(), 0)
})

t.test('SIGKILL one child: only its connection closes, no zombie remains', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--handler', 'echo'])
  const clients = await Promise.all(Array.from({ length: 3 }, async () => await Client.open(server.port)))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  for (const c of clients) c.write('hello;')
  await Promise.all(clients.map(async (c) => await c.waitBytes(6)))
  const serving = await pidsWithRole(server.pid, 'connection')
  t.equal(serving.length, 3, 'a connection child per client')
  process.kill(serving[0]!, 'SIGKILL')
  await waitFor(() => clients.some((c) => c.closed), 5000, 'a connection to close')
  for (const c of clients) if (!c.closed) c.write('again;')
  const open = clients.filter((c) => !c.closed)
  t.equal(open.length, 2, 'only one connection closed')
  await Promise.all(open.map(async (c) => await c.waitBytes(12)))
  for (const c of open) t.equal(c.data().toString(), 'hello;again;')
  await waitFor(() => alive([serving[0]!]).length === 0, 3000, 'the killed child to exit')
  // a zombie until its parent (the zygote, or the primary) takes its SIGCHLD: one left for 3 s is a fault
  await waitFor(async () => (await countZombies(server.pid)) === 0, 3000, 'the killed child to be reaped').catch(() => {})
  t.equal(await countZombies(server.pid), 0, 'no zombie')
})

// strict fork forks its children from a zygote by default (they die with it, and it with the primary);
// booted children (--child-boot snapshot) die with the primary themselves
for (const [boot, others, what] of [['zygote', 4, '3 connection children and the zygote'], ['snapshot', 5, '3 connection children and 2 spares']] as const) {
  t.test(`SIGKILL the primary: every child exits within 3 s (no orphans; --child-boot ${boot})`, async (t) => {
    const server = await startServer(t, ['--model', 'fork', '--spares', '2', '--child-boot', boot, '--handler', 'echo'])
    const clients = await Promise.all(Array.from({ length: 3 }, async () => await Client.open(server.port)))
    t.teardown(() => clients.forEach((c) => c.destroy()))
    for (const c of clients) c.write('x')
    await Promise.all(clients.map(async (c) => await c.waitBytes(1)))
    // the spares that took the connections are replaced in the background
    let children: number[] = []
    await waitFor(async () => (children = (await readProcessTree(server.pid, { pss: false })).processes.filter((p) => p.pid !== server.pid).map((p) => p.pid)).length >= others, 10_000, what)
    t.ok(children.length >= others, `${what} (${children.length})`)
    process.kill(server.pid, 'SIGKILL')
    await waitFor(() => alive(children).length === 0, 3000, 'children to exit')
    t.same(alive(children), [])
    await Promise.all(clients.map(async (c) => await c.waitClose(3000)))
  })
}

t.test('--max-children bounds the processes; more connections wait their turn', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--max-children', '2', '--handler', 'echo'])
  const first = await Promise.all([0, 1].map(async () => await Client.open(server.port)))
  t.teardown(() => first.forEach((c) => c.destroy()))
  for (const c of first) c.write('a')
  await Promise.all(first.map(async (c) => await c.waitBytes(1)))
  const third = await Client.open(server.port)
  t.teardown(() => third.destroy())
  third.write('waiting')
  await new Promise((resolve) => setTimeout(resolve, 700))
  t.equal(third.received, 0, 'no child for the third connection yet')
  const tree = await readProcessTree(server.pid, { pss: false })
  // the primary, and the zygote the children are forked from
  t.equal(tree.processes.filter((p) => p.role === 'connection').length, 2, 'never more than --max-children children')
  t.equal(tree.processes.length, 4, 'the primary, the zygote and two children')
  first[0]!.destroy()
  t.equal((await third.waitBytes(7)).toString(), 'waiting', 'served once a child freed up, nothing lost')
})

t.test('a client that speaks while it waits for a child: what the primary read goes along, in order, nothing lost', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--max-children', '1', '--spares', '0', '--handler', 'echo'])
  const holder = await Client.open(server.port)
  t.teardown(() => holder.destroy())
  holder.write('held')
  await holder.waitBytes(4)
  // the only child serves the holder: this one waits, and its first bytes are read by the primary
  const waiter = await Client.open(server.port)
  t.teardown(() => waiter.destroy())
  const first = randomBytes(20_000)
  waiter.write(first)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const second = randomBytes(30_000) // still waiting: stays in the kernel until the child reads it
  waiter.write(second)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await stats(server)).extra.waiting, 1, 'the second client is waiting')
  holder.destroy()
  const got = await waiter.waitBytes(first.length + second.length, 20_000)
  t.ok(got.equals(Buffer.concat([first, second])), `all ${first.length + second.length} bytes echoed, in order`)
  t.equal(await server.stop(), 0)
})

t.test('a connection child logs with the role ps shows for it (connection, not spare)', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--spares', '1', '--handler', fixture('faulty.mjs'), '--log-level', 'warn'])
  const c = await Client.open(server.port)
  t.teardown(() => c.destroy())
  c.write('boom\n')
  await waitFor(() => server.stderr().includes('boom requested'), 10_000, 'the handler error logged')
  const line = server.stderr().split('\n').find((l) => l.includes('boom requested'))!
  const log = JSON.parse(line) as { role: string, pid: number }
  t.equal(log.role, 'connection', line)
  t.not(log.pid, server.pid, 'logged by the child')
})
