/**
 * What only the pool model promises: handlers really run in parallel on its threads, a thread that
 * dies takes only its own connection down, ctx.state and ctx.shared behave across threads, and a
 * closed connection's queued tasks are dropped rather than run.
 */
import t from 'tap'
import { Client } from '../helpers/client.js'
import { fixture, startServer } from '../helpers/server.js'

const lines = (c: Client): number => c.data().toString().split('\n').length - 1
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Writes `text` and waits until `count` more lines arrived; returns the new lines. */
async function ask (c: Client, text: string, count = text.split('\n').length - 1, timeoutMs = 15_000): Promise<string[]> {
  const before = lines(c)
  c.write(text)
  await c.until(() => lines(c) >= before + count || c.closed, timeoutMs, `${count} line(s)`)
  return c.data().toString().split('\n').slice(before, before + count)
}

t.test('pool: CPU-bound messages of two connections run in parallel on --workers 2', async (t) => {
  // a correctness check, not a timing one: each reply says which thread ran it and when it started and
  // ended there, so "in parallel" means two different threads whose runs overlapped (speed-up is the
  // benchmark's business: `echoplex bench --suite cpu`)
  const server = await startServer(t, ['--model', 'pool', '--workers', '2', '--handler', fixture('pool-cpu.mjs')])
  const [a, b] = await Promise.all([Client.open(server.port), Client.open(server.port)])
  t.teardown(() => { a!.destroy(); b!.destroy() })
  const both = async (rounds: number): Promise<string[]> => await Promise.all([a!, b!].map(async (c) => (await ask(c, `spin ${rounds}\n`))[0]!))
  await both(1_000_000) // warm both threads (JIT)
  let threads = new Set<string>()
  let overlapped = false
  for (let round = 0; round < 6 && !(overlapped && threads.size === 2); round++) {
    const replies = await both(20_000_000)
    threads = new Set(replies.map((r) => r.split(' ')[1]!))
    const [x, y] = replies.map((r) => r.split(' ').slice(2, 4).map(Number)) as [number[], number[]]
    overlapped = x[0]! < y[1]! && y[0]! < x[1]!
  }
  t.equal(threads.size, 2, 'the two messages ran on two different threads')
  t.ok(overlapped, 'their handler runs overlapped in time')
})

t.test('pool: process.exit in a handler ends only its thread and its connection', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '2', '--handler', fixture('faulty.mjs')])
  const good = await Client.open(server.port)
  t.teardown(() => good.destroy())
  t.same(await ask(good, 'before\n'), ['before'], 'served before')
  // two exits: with --workers 2 and no replacement, no thread would be left
  for (const round of [1, 2]) {
    const bad = await Client.open(server.port)
    t.teardown(() => bad.destroy())
    bad.write('fine\nexit\nnever answered\n')
    await bad.waitClose()
    t.equal(bad.data().toString(), 'fine\n', `exit ${round}: its earlier reply arrived, then its connection was closed`)
    t.same(await ask(good, `after ${round}\n`), [`after ${round}`], `exit ${round}: the other connection is still served`)
  }
  const fresh = await Promise.all(Array.from({ length: 4 }, async () => await Client.open(server.port)))
  t.teardown(() => fresh.forEach((c) => c.destroy()))
  const replies = await Promise.all(fresh.map(async (c, i) => await ask(c, `new ${i}\nagain ${i}\n`)))
  t.same(replies, fresh.map((_, i) => [`new ${i}`, `again ${i}`]), 'new connections are served: the threads were replaced')
  t.equal(good.closed, false, 'the steady connection stayed open')
  t.equal(server.child.exitCode, null, 'the server process is still running')
})

t.test('pool: a reply its thread finished in the same batch, before another handler\'s process.exit, still arrives', async (t) => {
  // one thread, so all three tasks share its batch, in the order they were read: a first echo (its
  // result leaves at once: the thread was idle), the steady connection's echo (held, to leave with the
  // batch's other results), then the exit, which ends the thread before the batch is done
  const server = await startServer(t, ['--model', 'pool', '--workers', '1', '--handler', fixture('faulty.mjs')])
  const [first, good] = await Promise.all([Client.open(server.port), Client.open(server.port)])
  t.teardown(() => { first!.destroy(); good!.destroy() })
  t.same(await ask(good!, 'before\n'), ['before'], 'served before')
  for (const round of [1, 2, 3]) {
    const exiting = await Client.open(server.port)
    t.teardown(() => exiting.destroy())
    t.same(await ask(exiting, 'hello\n'), ['hello'], `round ${round}: the exiting connection is served first`)
    // all three wait in the kernel while the server is stopped: on SIGCONT one turn reads them, in this order
    process.kill(server.pid, 'SIGSTOP')
    try {
      for (const [c, text] of [[first!, `first ${round}`], [good!, `steady ${round}`], [exiting, 'exit']] as const) {
        c.write(`${text}\n`)
        await sleep(30)
      }
    } finally {
      process.kill(server.pid, 'SIGCONT')
    }
    await exiting.waitClose()
    await good!.until(() => lines(good!) >= round + 1 || good!.closed, 15_000, 'the steady reply')
    t.equal(good!.closed, false, `round ${round}: the steady connection is still open`)
    t.equal(good!.data().toString().split('\n')[round], `steady ${round}`, `round ${round}: its reply arrived`)
  }
})

t.test('pool: replies its thread finished before a stuck task of the same batch still arrive when the heartbeat stops that thread', async (t) => {
  // one thread, a short heartbeat: the batch is a first echo (its result leaves at once), the steady
  // connection's echo (held, to leave with the batch's results), then a handler that never returns
  const server = await startServer(t, ['--model', 'pool', '--workers', '1', '--heartbeat', '1s', '--handler', fixture('fault-line.mjs')])
  const [first, good, looper] = await Promise.all([Client.open(server.port), Client.open(server.port), Client.open(server.port)])
  t.teardown(() => { first!.destroy(); good!.destroy(); looper!.destroy() })
  for (const c of [first!, good!, looper!]) t.same(await ask(c, 'hi\n'), ['hi'], 'each is served first')
  process.kill(server.pid, 'SIGSTOP')
  try {
    for (const [c, text] of [[first!, 'first'], [good!, 'steady'], [looper!, 'loop']] as const) {
      c.write(`${text}\n`)
      await sleep(30)
    }
  } finally {
    process.kill(server.pid, 'SIGCONT')
  }
  await looper!.waitClose(15_000)
  t.equal(looper!.data().toString(), 'hi\n', 'the looping connection was closed once its thread was stopped')
  await good!.until(() => lines(good!) >= 2 || good!.closed, 5000, 'the steady reply')
  t.equal(good!.data().toString(), 'hi\nsteady\n', 'the steady connection got the reply its thread had finished')
  t.equal(good!.closed, false, 'and is still open')
  t.same(await ask(good!, 'again\n'), ['again'], 'and is served by the replacement thread')
  t.equal(first!.data().toString(), 'hi\nfirst\n', 'the first connection got its reply too')
})

t.test('pool: an HTTP reply its thread finished before a stuck task of the same batch still arrives', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '1', '--heartbeat', '1s', '--handler', fixture('http-loop.mjs')])
  const [first, good, looper] = await Promise.all([Client.open(server.port), Client.open(server.port), Client.open(server.port)])
  t.teardown(() => { first!.destroy(); good!.destroy(); looper!.destroy() })
  const request = (path: string, body: string): string => `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}`
  const replies = (c: Client): number => c.data().toString().split('HTTP/1.1 200').length - 1
  for (const c of [first!, good!, looper!]) {
    c.write(request('/hello', 'hi'))
    await c.until(() => replies(c) === 1 && c.data().toString().endsWith('hi'), 10_000, 'a first reply')
  }
  process.kill(server.pid, 'SIGSTOP')
  try {
    for (const [c, path, body] of [[first!, '/first', 'one'], [good!, '/steady', 'steady body'], [looper!, '/loop', '']] as const) {
      c.write(request(path, body))
      await sleep(30)
    }
  } finally {
    process.kill(server.pid, 'SIGCONT')
  }
  await looper!.waitClose(15_000)
  await good!.until(() => replies(good!) >= 2 || good!.closed, 5000, 'the steady reply')
  const second = good!.data().toString().split('HTTP/1.1 200')[2] ?? ''
  t.match(second, /x-path: \/steady/i, 'the steady connection got the response its thread had finished (its headers)')
  t.ok(second.endsWith('\r\n\r\nsteady body'), 'and its body')
  t.equal(good!.closed, false, 'and is still open')
})

t.test('pool: ctx.state per connection, ctx.shared atomic across threads', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '2', '--handler', fixture('pool-state.mjs')])

  await t.test('ctx.state persists between messages of one connection, and only that one', async (t) => {
    const [c1, c2] = await Promise.all([Client.open(server.port), Client.open(server.port)])
    t.teardown(() => { c1!.destroy(); c2!.destroy() })
    t.same(await ask(c1!, 'incr\n'.repeat(5)), ['1', '2', '3', '4', '5'])
    t.same(await ask(c2!, 'incr\nincr\n'), ['1', '2'], 'another connection has a state of its own')
    t.same(await ask(c1!, 'incr\n'), ['6'])
  })

  await t.test('a state the handler replaced (by assignment, after an await) is the one the next message sees', async (t) => {
    const c = await Client.open(server.port)
    t.teardown(() => c.destroy())
    t.same(await ask(c, 'incr\nincr\nname\nrename ada\nname\nincr\n'), ['1', '2', 'none', 'renamed', 'ada', '3'])
  })

  await t.test('setIfAbsent: 24 connections race for one key, exactly one wins', async (t) => {
    const racers = await Promise.all(Array.from({ length: 24 }, async () => await Client.open(server.port)))
    t.teardown(() => racers.forEach((c) => c.destroy()))
    const answers = await Promise.all(racers.map(async (c) => (await ask(c, 'claim the-key\n'))[0]))
    t.equal(answers.filter((a) => a === 'won').length, 1, 'one winner')
    t.equal(answers.filter((a) => a === 'lost').length, 23, 'everyone else lost')
  })

  await t.test('a failed ctx.shared operation carries EPX_SHARED_FAILED, as in every model', async (t) => {
    const c = await Client.open(server.port)
    t.teardown(() => c.destroy())
    t.same(await ask(c, 'unclonable\n'), ['EPX_SHARED_FAILED'], 'the handler caught the catalogue\'s error')
    t.same(await ask(c, 'incr\n'), ['1'], 'the connection is still served')
  })
})

t.test('pool: a closed connection\'s queued tasks are dropped, not run', async (t) => {
  // one thread and room for one queued task with it: the rest waits in the executor's FIFO
  const server = await startServer(t, ['--model', 'pool', '--workers', '1', '--max-queue', '1', '--log-level', 'debug', '--handler', fixture('pool-state.mjs')])
  const open = async (): Promise<Client> => {
    const c = await Client.open(server.port)
    t.teardown(() => c.destroy())
    return c
  }
  const holder = await open()
  holder.write('busy 2500\n') // the only thread is busy from here on
  await sleep(150)
  const queued = await open() // its first task waits in the thread's queue, 199 more in its connection
  queued.write('hit queued\n'.repeat(200))
  await sleep(100)
  const kept = await open() // waits in the executor's FIFO, and is never cancelled
  kept.write('hit kept\n')
  await sleep(100)
  const waiting = await open() // waits in the FIFO behind it
  waiting.write('hit waiting\n')
  await sleep(150)
  queued.socket.resetAndDestroy()
  waiting.socket.resetAndDestroy()

  await holder.until(() => holder.data().toString() === 'busy done\n', 15_000, 'the busy reply')
  t.equal(holder.closed, false, 'the busy task ran to its end')
  await kept.until(() => lines(kept) >= 1, 15_000, 'the kept reply')
  t.equal(kept.data().toString(), '1\n', 'a task queued behind them still ran')
  const probe = await open()
  t.same(await ask(probe, 'count queued\ncount waiting\ncount kept\n'), ['0', '0', '1'],
    'the reset connections\' tasks never ran: 0 of 200, and 0 of 1')
  const cancels = server.stderr().split('\n').flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string, where?: string }
      return entry.msg === 'cancelled a task of a closed connection' ? [entry.where] : []
    } catch { return [] }
  })
  t.same(cancels.sort(), ['executor FIFO', 'thread queue'], 'one task was dropped from a thread\'s queue, one out of the FIFO')
})

t.test('pool: a task running past --heartbeat loses its thread, and a new thread serves the rest', async (t) => {
  const server = await startServer(t, ['--model', 'pool', '--workers', '1', '--heartbeat', '400ms', '--handler', fixture('pool-state.mjs')])
  const stuck = await Client.open(server.port)
  const other = await Client.open(server.port)
  t.teardown(() => { stuck.destroy(); other.destroy() })
  stuck.write('busy 60000\n') // holds the only thread far past the heartbeat
  await sleep(100)
  other.write('incr\n') // waits for that thread
  await stuck.waitClose(10_000)
  t.equal(stuck.data().toString(), '', 'the stuck connection was closed, unanswered')
  await other.until(() => lines(other) >= 1, 10_000, 'the waiting reply')
  t.same(await ask(other, 'incr\n'), ['2'], 'the connection that waited was served by the new thread, its state intact')
  t.match(server.stderr(), /task ran past the heartbeat/, 'the watchdog said why')
})
