/**
 * cluster's listening arrangements: with `--sched reuseport` every worker binds its own socket and the
 * kernel spreads connections over them (a replacement takes over a killed worker's share, a SIGHUP
 * rolling restart fails no request, --max-connections is shared); the default is reuseport where this
 * Node supports it, rr elsewhere with a one-line note.
 */
import t, { type Test } from 'tap'
import autocannon from 'autocannon'
import { reusePortUnavailable } from '@echoplex/server'
import { Client } from '../helpers/client.js'
import { fixture, startServer, type RunningServer } from '../helpers/server.js'
import { pidsWithRole, waitFor } from '../helpers/proc.js'
import { readSocketTable } from '../../../proc/src/index.js'

const unavailable = await reusePortUnavailable()

/** Opens `count` connections and returns the pid that answered on each (null: refused or closed). */
async function whoServes (port: number, count: number): Promise<Array<number | null>> {
  const clients = await Promise.all(Array.from({ length: count }, async () => await Client.open(port)))
  try {
    return await Promise.all(clients.map(async (c) => {
      c.write('who\n')
      await c.until(() => c.data().includes('\n') || c.closed, 5000, 'a pid')
      const line = c.data().toString().split('\n')[0]!
      return /^\d+$/.test(line) ? Number(line) : null
    }))
  } finally {
    clients.forEach((c) => c.destroy())
  }
}

/** The inodes of the TCP sockets listening on `port` (the proc package's socket table). */
async function listeningInodes (port: number): Promise<number[]> {
  return [...(await readSocketTable()).values()].filter((e) => e.kind !== 'unix' && e.state === 'listen' && e.localPort === port).map((e) => e.inode)
}

/**
 * Eight clients, a new connection per message, while `restarts` SIGHUP rolling restarts run one after
 * another: every worker is replaced, and every connection is answered (none reset, none closed unanswered).
 */
async function churnThroughRestarts (t: Test, server: RunningServer, restarts: number): Promise<void> {
  const before = await pidsWithRole(server.pid, 'worker')
  const outcome = { served: 0, failed: [] as string[] }
  let done = false
  const churn = async (): Promise<void> => {
    for (let i = 0; i < 10_000 && !done; i++) {
      const c = new Client(server.port)
      try {
        await c.connected
        c.write('who\n')
        await c.until(() => c.data().includes('\n') || c.closed, 5000, 'a pid')
        if (c.data().includes('\n')) outcome.served++
        else outcome.failed.push(c.error?.message ?? 'closed unanswered')
      } catch (err) {
        outcome.failed.push((err as Error).message)
      } finally {
        c.destroy()
      }
    }
  }
  const clients = Array.from({ length: 8 }, churn)
  try {
    await new Promise((resolve) => setTimeout(resolve, 300))
    for (let round = 1; round <= restarts; round++) {
      process.kill(server.pid, 'SIGHUP')
      await waitFor(() => (server.stdout().match(/restarted 2 worker\(s\)/g) ?? []).length >= round, 15_000, `restart ${round} to finish`)
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
  } finally {
    done = true
    await Promise.all(clients)
  }
  const after = await pidsWithRole(server.pid, 'worker')
  t.equal(after.filter((p) => before.includes(p)).length, 0, `both workers were replaced, ${restarts} times`)
  t.ok(outcome.served > 100, `churn ran (${outcome.served} connections served)`)
  t.same(outcome.failed, [], 'no connection reset or left unanswered')
}

async function statsOf (server: RunningServer): Promise<Record<string, unknown>> {
  const before = server.stdout().length
  process.kill(server.pid, 'SIGUSR2')
  await waitFor(() => server.stdout().slice(before).includes('stats '), 5000, 'a stats line')
  const line = server.stdout().slice(before).split('\n').find((l) => l.startsWith('stats '))!
  return JSON.parse(line.slice('stats '.length)) as Record<string, unknown>
}

if (unavailable === undefined) {
  t.test('reuseport: every worker has its own listening socket, connections land on each, a replacement takes over a killed one\'s share', async (t) => {
    const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--sched', 'reuseport', '--handler', fixture('whoami.mjs')])
    const workers = await pidsWithRole(server.pid, 'worker')
    t.equal(workers.length, 2, 'two workers')
    const extra = (await statsOf(server)).extra as { sched: string }
    t.equal(extra.sched, 'reuseport', 'stats say which policy serves')
    const served = await whoServes(server.port, 32)
    t.same([...new Set(served)].sort(), [...workers].sort(), 'the kernel spread 32 connections over both workers, and only them')

    process.kill(workers[0]!, 'SIGKILL')
    // ready workers (serving, their socket bound), as the primary counts them
    const ready = async (): Promise<number[]> => ((await statsOf(server)).extra as { workerPids: number[] }).workerPids
    await waitFor(async () => {
      const now = await ready()
      return now.length === 2 && !now.includes(workers[0]!)
    }, 10_000, 'a replacement worker')
    const after = await ready()
    const replacement = after.find((p) => p !== workers[1])!
    const again = await whoServes(server.port, 32)
    t.notOk(again.includes(null), 'every new connection was served (none reached the dead worker\'s socket)')
    t.same([...new Set(again)].sort(), [...after].sort(), `the replacement (${replacement}) took its share; the survivor kept its own`)
    t.equal(await server.stop(), 0)
  })

  t.test('reuseport: --max-connections is shared among the workers', async (t) => {
    const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--sched', 'reuseport', '--max-connections', '4', '--handler', fixture('whoami.mjs')])
    const clients = await Promise.all(Array.from({ length: 12 }, async () => await Client.open(server.port)))
    t.teardown(() => clients.forEach((c) => c.destroy()))
    for (const c of clients) c.write('who\n')
    await Promise.all(clients.map(async (c) => await c.until(() => c.data().includes('\n') || c.closed, 5000, 'a pid or a close')))
    const answered = clients.filter((c) => !c.closed && c.data().includes('\n'))
    t.ok(answered.length >= 1 && answered.length <= 4, `at most 4 of 12 held at once (${answered.length}); each worker enforces its share of 2`)
  })

  t.test('reuseport: SIGHUP rolling restart under autocannon fails no request', async (t) => {
    const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--sched', 'reuseport', '--handler', 'http'])
    const before = await pidsWithRole(server.pid, 'worker')
    const hup = setTimeout(() => process.kill(server.pid, 'SIGHUP'), 700)
    t.teardown(() => clearTimeout(hup))
    const result = await autocannon({ url: `http://127.0.0.1:${server.port}/`, method: 'POST', body: 'rolling', connections: 8, duration: 3 })
    await waitFor(() => /restarted 2 worker\(s\)/.test(server.stdout()), 10_000, 'the restart to finish')
    const after = await pidsWithRole(server.pid, 'worker')
    t.equal(after.filter((p) => before.includes(p)).length, 0, 'both workers were replaced')
    t.ok(result.requests.total > 0, `load ran (${result.requests.total} requests)`)
    t.equal(result.errors + result.timeouts + result.non2xx, 0, 'no request failed')
  })

  t.test('reuseport: a rolling restart under churn resets no connection; each replacement listens on the socket it replaces', async (t) => {
    const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--sched', 'reuseport', '--handler', fixture('whoami.mjs')])
    const sockets = await listeningInodes(server.port)
    t.equal(sockets.length, 2, 'two listening sockets on the port')
    // some connections always wait in a socket's accept queue when its worker stops (a socket of the
    // group that closed would reset them)
    await churnThroughRestarts(t, server, 2)
    t.same((await listeningInodes(server.port)).sort(), sockets.sort(), 'the same two sockets listen: the replacements took them over')
    t.equal(await server.stop(), 0)
  })

  t.test('reuseport: connections waiting in a killed worker\'s socket are served by its replacement', async (t) => {
    const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--sched', 'reuseport', '--handler', fixture('whoami.mjs')])
    const [stopped, other] = await pidsWithRole(server.pid, 'worker') as [number, number]
    // stopped, it accepts nothing: the connections the kernel gives its socket wait in its queue
    process.kill(stopped, 'SIGSTOP')
    t.teardown(() => { try { process.kill(stopped, 'SIGKILL') } catch {} })
    const clients = await Promise.all(Array.from({ length: 16 }, async () => await Client.open(server.port)))
    t.teardown(() => clients.forEach((c) => c.destroy()))
    for (const c of clients) c.write('who\n')
    await new Promise((resolve) => setTimeout(resolve, 300))
    const waiting = clients.filter((c) => !c.data().includes('\n')).length
    t.ok(waiting > 0, `${waiting} of 16 connections wait in the stopped worker's queue`)
    process.kill(stopped, 'SIGKILL')
    await Promise.all(clients.map(async (c) => await c.until(() => c.data().includes('\n') || c.closed, 10_000, 'a pid or a close')))
    const pids = clients.map((c) => c.data().toString().split('\n')[0])
    t.equal(clients.filter((c) => !c.data().includes('\n')).length, 0, 'every connection was answered, none reset')
    t.notOk(pids.includes(String(stopped)), 'none by the killed worker')
    t.ok(pids.some((p) => p !== '' && p !== String(other) && p !== String(stopped)), 'its replacement served the ones that waited')
    t.equal(await server.stop(), 0)
  })

  t.test('the default is reuseport where this Node supports it', async (t) => {
    const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--handler', 'echo'])
    t.equal(((await statsOf(server)).extra as { sched: string }).sched, 'reuseport')
    t.notMatch(server.stderr(), /note: cluster uses --sched rr/, 'no note')
  })
} else {
  t.test(`reuseport where this Node has none (${unavailable}): refused in one line; the default is rr, with a note`, async (t) => {
    await t.rejects(startServer(t, ['--model', 'cluster', '--workers', '2', '--sched', 'reuseport', '--handler', 'echo']),
      /before listening: echoplex: --sched reuseport is not available: /)
    const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--handler', fixture('whoami.mjs')])
    t.equal(((await statsOf(server)).extra as { sched: string }).sched, 'rr')
    t.match(server.stderr(), /^echoplex: note: cluster uses --sched rr; reuseport \(the default where supported\) is not available: .+$/m, 'one line says which, and why')
    const workers = await pidsWithRole(server.pid, 'worker')
    const served = await whoServes(server.port, 16)
    t.ok(served.every((pid) => pid !== null && workers.includes(pid)), 'rr serves every connection from a worker')
  })
}

t.test('--sched rr still hands connections out from the primary wherever reuseport exists', async (t) => {
  const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--sched', 'rr', '--handler', fixture('whoami.mjs')])
  t.equal(((await statsOf(server)).extra as { sched: string }).sched, 'rr')
  const workers = await pidsWithRole(server.pid, 'worker')
  const served = await whoServes(server.port, 8)
  t.same([...new Set(served)].sort(), [...workers].sort(), 'round-robin reached both workers')
})

t.test('--sched rr: a rolling restart under churn resets no connection (a worker leaves only once the primary answered its farewell: no socket still on its way to it)', async (t) => {
  const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--sched', 'rr', '--handler', fixture('whoami.mjs')])
  await churnThroughRestarts(t, server, 4)
  t.equal(await server.stop(), 0)
})
