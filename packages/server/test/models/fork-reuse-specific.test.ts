import t from 'tap'
import { Client, writeNumberedLines } from '../helpers/client.js'
import { fixture, modelStats as stats, startServer } from '../helpers/server.js'
import { lingeringZombies, readProcessTree, waitFor } from '../helpers/proc.js'

interface Who { pid: number, stateKeys: string[], moduleConnections: number }

/** One `who` on a connection of its own, closed before the next. */
async function who (port: number, client?: Client): Promise<Who> {
  const c = client ?? await Client.open(port)
  try {
    const before = c.received
    c.write('who\n')
    await c.until(() => c.data().subarray(before).includes(10), 10_000, 'a reply line')
    return JSON.parse(c.data().subarray(before).toString().trim()) as Who
  } finally {
    if (client === undefined) {
      c.destroy()
      await c.waitClose(5000)
    }
  }
}

const handler = fixture('reuse-state.mjs')

t.test('reuse: concurrent connections never share a child; sequential ones do, each with a fresh ctx.state', async (t) => {
  const server = await startServer(t, ['--model', 'fork-reuse', '--spares', '4', '--max-children', '4', '--handler', handler])
  const clients = await Promise.all(Array.from({ length: 4 }, async () => await Client.open(server.port)))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  const together = await Promise.all(clients.map(async (c) => await who(server.port, c)))
  t.equal(new Set(together.map((w) => w.pid)).size, 4, 'four concurrent connections, four processes')
  for (const c of clients) c.destroy()
  // the primary sees each child idle again before it hands it the next connection
  await waitFor(async () => (await stats(server)).extra.spares === 4, 10_000, 'the four children to be idle again')
  const one = []
  for (let i = 0; i < 6; i++) one.push(await who(server.port))
  const pids = new Set(one.map((w) => w.pid))
  t.ok(pids.size < one.length, `6 connections one after another were served by ${pids.size} reused children`)
  t.ok([...pids].every((p) => together.some((w) => w.pid === p)), 'no child was started for them')
  t.ok([...together, ...one].every((w) => w.stateKeys.length === 0), 'every connection opened with an empty ctx.state')
  t.ok(one.some((w) => w.moduleConnections > 1), 'module-level state lives on in a reused child (as the README says)')
  const s = await stats(server)
  t.equal(s.extra.spawned, 4, 'still the four children it started with')
  const served = (s.extra.perChild as Array<{ served: number }>).reduce((sum, c) => sum + c.served, 0)
  t.equal(served, 10, 'the children report the 10 connections they served')
  t.equal(await server.stop(), 0)
})

t.test('--connections-per-child 3: a child is recycled after exactly 3 connections', async (t) => {
  const server = await startServer(t, ['--model', 'fork-reuse', '--max-children', '1', '--connections-per-child', '3', '--handler', handler])
  const seen: Who[] = []
  for (let i = 0; i < 7; i++) seen.push(await who(server.port))
  const pids = seen.map((w) => w.pid)
  t.same(seen.map((w) => w.moduleConnections), [1, 2, 3, 1, 2, 3, 1], 'each child counts 1, 2, 3 in its module')
  t.equal(new Set(pids.slice(0, 3)).size, 1, 'first three: one child')
  t.equal(new Set(pids.slice(3, 6)).size, 1, 'next three: one child')
  t.equal(new Set([pids[0], pids[3], pids[6]]).size, 3, 'a new child after every third connection')
  const s = await stats(server)
  t.equal(s.extra.recycled.connections, 2, 'two children recycled for their connection count')
  t.equal(s.connectionsTotal, 7)
  // the second recycled child may still be leaving as the seventh connection is served
  t.same(await lingeringZombies(server.pid), [], 'recycled children reaped')
  t.equal(await server.stop(), 0)
})

t.test('reuse: idle children above --max-spares retire (one a second) until --max-spares are left', async (t) => {
  const server = await startServer(t, ['--model', 'fork-reuse', '--spares', '1', '--max-spares', '1', '--handler', handler])
  const clients = await Promise.all(Array.from({ length: 4 }, async () => await Client.open(server.port)))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  const pids = new Set((await Promise.all(clients.map(async (c) => await who(server.port, c)))).map((w) => w.pid))
  t.equal(pids.size, 4)
  for (const c of clients) c.destroy()
  const settled = async (): Promise<boolean> => {
    const s = await stats(server)
    return s.extra.children === 1 && s.extra.spares === 1
  }
  await waitFor(settled, 20_000, 'one idle child to be left')
  const s = await stats(server)
  t.ok(s.extra.retiredIdle >= 3, `${s.extra.retiredIdle} idle children retired`)
  t.equal(s.extra.spawned, s.extra.retiredIdle + 1, 'every child started was either retired or is the one left')
  t.equal((await readProcessTree(server.pid, { pss: false })).processes.length, 2, 'the primary and one idle child')
  t.same(await lingeringZombies(server.pid), [], 'retired children reaped')
  t.equal(await server.stop(), 0)
})

t.test('reuse: --start-children boots that many before serving (httpd StartServers); the idle ones are the spares', async (t) => {
  const server = await startServer(t, ['--model', 'fork-reuse', '--spares', '1', '--start-children', '3', '--handler', handler])
  // start() returned only once they were ready: no connection has been made yet
  const s = await stats(server)
  t.equal(s.extra.children, 3, 'three children before the first connection')
  t.equal(s.extra.spares, 3, 'all idle')
  t.equal(s.extra.startChildren, 3)
  const pids = new Set<number>()
  const clients = await Promise.all(Array.from({ length: 3 }, async () => await Client.open(server.port)))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  for (const c of clients) pids.add((await who(server.port, c)).pid)
  t.equal(pids.size, 3, 'three concurrent connections served by the three children')
  // (with kernel accept the primary reads who serves from the scoreboard, a look every 20 ms)
  await waitFor(async () => (await stats(server)).extra.spawned === 3 + 1, 5000, 'a fourth boot').catch(() => {})
  t.equal((await stats(server)).extra.spawned, 3 + 1, 'one more boot: --spares 1 wants an idle child while all three serve')
})

t.test('reuse, hand-off: a stop with connections still waiting drains each in a child already up, one after another (none booted per waiting connection)', async (t) => {
  const server = await startServer(t, ['--model', 'fork-reuse', '--accept', 'handoff', '--spares', '2', '--max-children', '2', '--handler', fixture('slow-echo.mjs')], { env: { SLOW_ECHO_MS: '1', ECHOPLEX_LOG_LEVEL: 'debug' } })
  const clients = await Promise.all(Array.from({ length: 10 }, async () => await Client.open(server.port)))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  const expected = writeNumberedLines(clients, 20)
  // two served, eight waiting in the primary's queue
  await waitFor(async () => (await stats(server)).extra.waiting === 8, 10_000, 'eight connections waiting')
  const bootedBefore = server.stderr().split('child ready').length - 1
  const code = await server.stop('SIGTERM')
  await Promise.all(clients.map(async (c) => await c.waitClose(10_000)))
  t.equal(clients.filter((c, i) => c.data().toString() === expected[i]).length, 10, 'every client got every reply, then the close')
  t.equal(code, 0, 'exit 0: nothing forced')
  const booted = server.stderr().split('child ready').length - 1 - bootedBefore
  t.equal(booted, 0, `no child booted during the stop (${booted})`)
})
