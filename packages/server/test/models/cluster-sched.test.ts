/**
 * cluster's listening arrangements: with `--sched reuseport` every worker binds its own socket and the
 * kernel spreads connections over them (a replacement takes over a killed worker's share, a SIGHUP
 * rolling restart fails no request, --max-connections is shared); the default is reuseport where this
 * Node supports it, rr elsewhere with a one-line note.
 */
import t from 'tap'
import autocannon from 'autocannon'
import { reusePortUnavailable } from '@echoplex/server'
import { Client } from '../helpers/client.js'
import { fixture, startServer, type RunningServer } from '../helpers/server.js'
import { pidsWithRole, waitFor } from '../helpers/proc.js'

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
