/**
 * The graceful drain every model's serving process shares (ConnectionServer, core's Connection), over
 * real loopback sockets: a connection whose client's bytes are still unread in the kernel when the
 * drain looks at it is not taken for a quiet one; connections queued in the kernel when a stop's
 * linger ends are accepted before the listener closes, a stall or not.
 */
import t from 'tap'
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { DEFAULT_LIMITS, LocalExecutor, LocalHub, createLogger, type Connection } from '@echoplex/core'
import { ACCEPT_LINGER_MS, ConnectionServer, lingerAccepting } from '../src/connection-server.js'
import { loadHandler, resolveHandlerPath } from '../src/handler-loader.js'
import { HandoffSource } from '../src/sources/handoff.js'

/** Blocks this process's event loop, as a stall does (a loaded machine, a child that just booted). */
function stall (ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) { /* the loop polls nothing meanwhile */ }
}

/**
 * An echo ConnectionServer fed by hand-off, and a listener whose sockets arrive paused, as a fork
 * child's do: nothing of them read yet. Each test takes the listener's sockets and gives them to `source`.
 */
async function echoByHandoff (t: { teardown: (fn: () => void) => void }): Promise<{ source: HandoffSource, listener: Server }> {
  const handler = await loadHandler(resolveHandlerPath('echo'))
  const serving = new ConnectionServer({ executor: new LocalExecutor(handler), hub: new LocalHub(), limits: DEFAULT_LIMITS, model: 'test', logger: createLogger() })
  const source = new HandoffSource()
  await serving.serve(source)
  const listener: Server = createServer({ pauseOnConnect: true })
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  t.teardown(() => listener.close())
  return { source, listener }
}

t.test('a drain after a stall reads what the client sent before the stall, answers it, then closes', async (t) => {
  const { source, listener } = await echoByHandoff(t)
  const accepted = once(listener, 'connection') as Promise<[Socket]>
  const client = connect((listener.address() as { port: number }).port, '127.0.0.1')
  t.teardown(() => client.destroy())
  const [socket] = await accepted
  let got = ''
  client.setEncoding('utf8').on('data', (d: string) => { got += d })
  const ended = once(client, 'end')
  const lines = Array.from({ length: 20 }, (_, i) => `m${i}\n`).join('')
  client.write(lines)
  await new Promise((resolve) => setTimeout(resolve, 50)) // in the server's kernel buffer, unread
  // as a socket a fork child receives over IPC: reading starts once the loop polls it
  socket.resume()
  const conn = await source.take(socket) as Connection
  t.ok(conn !== undefined, 'served')
  // the process stalls past the drain's quiet time before its loop polls the socket, then the stop comes
  stall(250)
  conn.shutdown()
  await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 5000))])
  t.equal(got, lines, 'every message answered before the close')
  await conn.done
})

t.test('a stop\'s linger accepts what queued in the kernel during a stall before it lets the listener close', async (t) => {
  const listener: Server = createServer((socket) => { accepted.push(socket) })
  const accepted: Socket[] = []
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const port = (listener.address() as { port: number }).port
  t.teardown(() => { listener.close(); for (const s of accepted) s.destroy() })
  const lingered = lingerAccepting(() => accepted.length, DEFAULT_LIMITS.graceMs).then(() => { listener.close(); return accepted.length })
  const clients = Array.from({ length: 5 }, () => connect(port, '127.0.0.1').on('error', () => {}))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  // the connects go out (on the next tick) and the kernel completes them, while this process stalls
  // past the linger: its timer is due before the loop has polled the listener once
  await new Promise((resolve) => process.nextTick(resolve))
  stall(3 * ACCEPT_LINGER_MS)
  t.equal(await lingered, 5, 'every connection queued during the stall was accepted before the close')
  // none was reset: each is still open at the client's end
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(clients.filter((c) => c.destroyed).length, 0, 'no client reset')
})

t.test('a drain gives a client that has said nothing yet time for its first message, answers it, and still ends a silent one', async (t) => {
  const { source, listener } = await echoByHandoff(t)
  const port = (listener.address() as { port: number }).port
  /** A connection served and drained at once, as one taken during a stop's linger is. */
  const drained = async (): Promise<{ client: Socket, got: () => string, ended: Promise<unknown> }> => {
    const accepted = once(listener, 'connection') as Promise<[Socket]>
    const client = connect(port, '127.0.0.1')
    t.teardown(() => client.destroy())
    let got = ''
    client.setEncoding('utf8').on('data', (d: string) => { got += d })
    const ended = once(client, 'end')
    const [socket] = await accepted
    socket.resume()
    const conn = await source.take(socket) as Connection
    conn.shutdown()
    return { client, got: () => got, ended }
  }
  // a client slower than the drain's quiet time (a loaded machine) to send its first message
  const late = await drained()
  await new Promise((resolve) => setTimeout(resolve, 3 * 100))
  late.client.write('late\n')
  await Promise.race([late.ended, new Promise((resolve) => setTimeout(resolve, 5000))])
  t.equal(late.got(), 'late\n', 'its first message, sent after the drain began, was answered before the close')
  // one that never speaks is not held for the grace period
  const silent = await drained()
  const closedIn = await Promise.race([silent.ended.then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still open'), 5000))])
  t.equal(closedIn, 'closed', 'a client that never speaks is still closed by the drain')
})
