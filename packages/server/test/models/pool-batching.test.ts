/**
 * The pool's batches: tasks of many connections travel to a thread in one message and their results
 * come back together, yet every connection's replies keep their order, a closed connection's tasks in
 * a batch are dropped unrun, and a client that never reads cannot grow the server's memory.
 */
import t from 'tap'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { Client, lengthFrame } from '../helpers/client.js'
import { fixture, startServer, type RunningServer } from '../helpers/server.js'
import { readProcessTree, waitFor } from '../helpers/proc.js'
import { COST_SAMPLES } from '../../src/models/pool-executor.js'

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

async function statsOf (server: RunningServer): Promise<{ messages: number, bytesIn: number, extra: Record<string, number> }> {
  const before = server.stdout().length
  process.kill(server.pid, 'SIGUSR2')
  await waitFor(() => server.stdout().slice(before).includes('stats '), 5000, 'a stats line')
  const line = server.stdout().slice(before).split('\n').find((l) => l.startsWith('stats '))!
  return JSON.parse(line.slice('stats '.length))
}

t.test('pool: any interleaving of connections and message sizes is answered in order per connection', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '2', '--handler', fixture('pool-order.mjs')])
  // sizes around the batch's copy path (small), a chunk of its own (4 KiB+) and a transfer without copy (≥ 64 KiB)
  const size = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(4096, 5000, 70_000, 100_000))
  const plan = fc.record({
    conns: fc.array(fc.array(size, { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 6 }),
    order: fc.array(fc.nat(), { minLength: 0, maxLength: 80 }),
    splits: fc.array(fc.nat(), { minLength: 0, maxLength: 80 }),
  })
  await fc.assert(fc.asyncProperty(plan, async ({ conns, order, splits }) => {
    const clients = await Promise.all(conns.map(async () => await Client.open(server.port)))
    try {
      const frames = conns.map((sizes, c) => sizes.map((n, i) => {
        const payload = randomBytes(n)
        if (n >= 3) payload.writeUInt16BE((c << 8) | i, 1) // distinct messages, so a swap cannot go unseen
        return lengthFrame(payload)
      }))
      const next = conns.map(() => 0)
      let step = 0
      // interleave: `order` picks which connection writes next, `splits` cuts frames across writes
      while (next.some((k, c) => k < frames[c]!.length)) {
        const open = next.flatMap((k, c) => k < frames[c]!.length ? [c] : [])
        const c = open[(order[step] ?? step) % open.length]!
        const frame = frames[c]![next[c]!++]!
        const cut = (splits[step] ?? 0) % (frame.length + 1)
        clients[c]!.write(frame.subarray(0, cut))
        if (cut < frame.length) clients[c]!.write(frame.subarray(cut))
        step++
      }
      const expected = frames.map((f) => Buffer.concat(f))
      await Promise.all(clients.map(async (client, c) => await client.until(() => client.received >= expected[c]!.length || client.closed, 20_000, 'every reply')))
      clients.forEach((client, c) => {
        if (!client.data().equals(expected[c]!)) throw new Error(`connection ${c}: replies differ from its messages in order`)
      })
    } finally {
      clients.forEach((c) => c.destroy())
    }
  }), { numRuns: 12 })
  t.pass('12 random plans: every connection\'s replies exact and in order')
})

t.test('pool: the messages that are ready in one turn of the loop travel to a thread in one batch', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '1', '--handler', fixture('pool-order.mjs')])
  const clients = await Promise.all(Array.from({ length: 10 }, async () => await Client.open(server.port)))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  const frame = (i: number): Buffer => lengthFrame(Buffer.from([1, i, 7])) // first byte 1: answered at once
  // each connection once, so every connection is known to the thread before the burst
  clients.forEach((c, i) => c.write(frame(i)))
  await Promise.all(clients.map(async (c) => await c.waitBytes(7)))
  const before = (await statsOf(server)).extra
  // the server stopped, ten messages wait in the kernel: on SIGCONT one turn of its loop reads them all
  process.kill(server.pid, 'SIGSTOP')
  try {
    clients.forEach((c, i) => c.write(frame(i)))
    await sleep(100)
  } finally {
    process.kill(server.pid, 'SIGCONT')
  }
  await Promise.all(clients.map(async (c) => await c.waitBytes(14)))
  const after = (await statsOf(server)).extra
  const tasks = after.completed - before.completed
  const batches = after.batches - before.batches
  t.equal(tasks, 10, 'ten tasks')
  t.ok(batches < tasks, `they travelled in ${batches} batch(es), not one message per task`)
  t.ok(clients.every((c) => c.data().subarray(7).equals(c.data().subarray(0, 7))), 'every connection got its reply')
})

t.test('pool: a turn\'s cheap tasks share one thread\'s batch; slow ones spread over every thread', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '2', '--handler', fixture('pool-cpu.mjs')])
  const clients = await Promise.all(Array.from({ length: 4 }, async () => await Client.open(server.port)))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  /** Every client sends `line` with the server stopped, so one turn of its loop reads all four; tasks per thread before and after. */
  const burst = async (line: string): Promise<Record<string, number[]>> => {
    const before = clients.map((c) => c.received)
    const stats = (await statsOf(server)).extra as unknown as Record<string, number[]>
    process.kill(server.pid, 'SIGSTOP')
    try {
      clients.forEach((c) => c.write(line))
      await sleep(100)
    } finally {
      process.kill(server.pid, 'SIGCONT')
    }
    await Promise.all(clients.map(async (c, i) => await c.until(() => c.data().subarray(before[i]).includes('\n'), 20_000, 'the reply')))
    const after = (await statsOf(server)).extra as unknown as Record<string, number[]>
    return { before: stats.tasksPerThread!, after: after.tasksPerThread! }
  }
  // cheap: echoes, each client one at a time, until the threads have measured one at under 6 µs
  // (the JIT has warmed): then three queued cost less than one thread hop (HOP_COST_US, 25 µs)
  let cheap = (await statsOf(server)).extra
  for (let round = 0, since = Date.now(); cheap.taskCostUs! >= 6 && Date.now() - since < 10_000; round++) {
    const seen = clients.map((c) => c.received)
    clients.forEach((c) => c.write('hi\n'))
    await Promise.all(clients.map(async (c, i) => await c.until(() => c.received >= seen[i]! + 3, 10_000, 'an echo')))
    if (round % 50 === 49) cheap = (await statsOf(server)).extra
  }
  t.ok(cheap.taskCostUs! < 6, `an echo measured cheap: ${cheap.taskCostUs} µs`)
  const echoes = await burst('hi burst\n')
  const sent = echoes.after!.map((n, i) => n - echoes.before![i]!)
  t.same(sent.slice().sort(), [0, 4], `the four echoes went to one thread, in one batch (per thread: ${sent.join(', ')})`)

  // slow: a few milliseconds of CPU each, measured first (the estimate is the median of the last
  // COST_SAMPLES batches: more than half of them), then four at once
  for (let round = 0; round < Math.ceil(COST_SAMPLES / 2) + 1; round++) {
    const seen = clients[0]!.received
    clients[0]!.write('spin 3000000\n')
    await clients[0]!.until(() => clients[0]!.data().subarray(seen).includes('\n'), 20_000, 'a spin')
  }
  const slow = (await statsOf(server)).extra
  t.ok(slow.taskCostUs! > 25, `a spin measured expensive: ${slow.taskCostUs} µs`)
  const spins = await burst('spin 3000000\n')
  const spread = spins.after!.map((n, i) => n - spins.before![i]!)
  t.same(spread, [2, 2], `the four spins spread evenly over both threads (per thread: ${spread.join(', ')})`)
  const threads = new Set(clients.map((c) => c.data().toString().trim().split('\n').at(-1)!.split(' ')[1]))
  t.equal(threads.size, 2, 'their replies name both threads')
})

t.test('pool: the tasks of closed connections in a thread\'s batch are dropped unrun', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '1', '--log-level', 'debug', '--handler', fixture('pool-state.mjs')])
  const holder = await Client.open(server.port)
  t.teardown(() => holder.destroy())
  holder.write('busy 2000\n') // the only thread is busy from here on
  await sleep(200)
  const doomed = await Promise.all(Array.from({ length: 20 }, async () => await Client.open(server.port)))
  for (const c of doomed) c.write('hit doomed\n')
  await sleep(200) // their tasks are sent to the busy thread, in one batch or a few
  const { extra: queuedStats } = await statsOf(server)
  t.equal(queuedStats.inPool, 21, 'all 20 tasks are with the thread, behind the busy one')
  for (const c of doomed) c.socket.resetAndDestroy()
  await holder.until(() => holder.data().toString() === 'busy done\n', 15_000, 'the busy reply')
  const probe = await Client.open(server.port)
  t.teardown(() => probe.destroy())
  probe.write('count doomed\n')
  await probe.until(() => probe.data().includes('\n'), 10_000, 'the count')
  t.equal(probe.data().toString(), '0\n', 'none of the 20 handlers ran')
  const { extra } = await statsOf(server)
  t.equal(extra.cancelled, 20, 'the executor counted 20 cancelled tasks')
  const where = server.stderr().split('\n').filter((l) => l.includes('cancelled a task of a closed connection') && l.includes('thread queue')).length
  t.equal(where, 20, 'each was dropped from the thread\'s queue')
})

t.test('pool: a client that never reads its replies cannot grow the server\'s memory', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '2', '--max-write-buffer', '1MiB', '--handler', 'echo'])
  const rss = async (): Promise<number> => (await readProcessTree(server.pid, { pss: false })).processes.reduce((sum, p) => sum + p.rssBytes, 0)
  const startRss = await rss()
  const socket = connect(server.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.pause() // never reads
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const chunk = randomBytes(256 * 1024)
  let offered = 0
  const deadline = Date.now() + 3000
  // write while the socket takes more, for at most 3 s; a stalled write is the server no longer reading
  while (Date.now() < deadline && offered < 2 * 1024 ** 3) {
    if (socket.write(chunk)) { offered += chunk.length; await new Promise((resolve) => setImmediate(resolve)); continue }
    offered += chunk.length
    await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), sleep(deadline - Date.now())])
  }
  const first = await statsOf(server)
  await sleep(1000)
  const second = await statsOf(server)
  t.equal(second.bytesIn, first.bytesIn, `the server stopped reading (${(first.bytesIn / 1024 ** 2).toFixed(1)} MiB read of ${(offered / 1024 ** 2).toFixed(1)} MiB offered)`)
  const grew = (await rss()) - startRss
  t.ok(grew < 64 * 1024 ** 2, `server memory grew ${(grew / 1024 ** 2).toFixed(1)} MiB (bounded by the write buffer, the connection's queue and the pool's)`)
  t.equal(server.child.exitCode, null, 'the server is still running')
})
