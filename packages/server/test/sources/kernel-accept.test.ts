import t from 'tap'
import { spawn } from 'node:child_process'
import { connect, createServer, type Socket } from 'node:net'
import { buildKernelAccept, KernelAcceptSource, loadKernelAccept, type KernelAcceptAddon } from '../../src/sources/kernel-accept.js'
import { ForkScoreboard, SLOT_SERVING } from '../../src/models/fork-scoreboard.js'

type Test = typeof t

const built = await buildKernelAccept()
if (!built.ok) {
  // the fork models then accept in the primary (auto) or refuse --accept kernel in one line (the conformance variant)
  t.pass(`kernel accept cannot be built here: ${built.reason}`)
} else {
  const addon = loadKernelAccept(built.path)

  /** A listening socket on loopback kept only as a descriptor, the way the fork primary keeps it. */
  async function listener (t: Test): Promise<{ fd: number, port: number }> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const fd = addon.dup((server as unknown as { _handle: { fd: number } })._handle.fd)
    server.close()
    t.ok(fd >= 0, 'the listening socket is kept')
    t.equal(addon.prepare(fd, 100), 0, 'non-blocking; a waiting accept looks for a cancel every 100 ms')
    return { fd, port }
  }

  const open = async (port: number): Promise<Socket> => await new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => resolve(c))
    c.once('error', reject)
  })

  t.test('a connection waits in the accept queue until a source takes it, and is served from it', async (t) => {
    const { fd, port } = await listener(t)
    t.teardown(() => { addon.close(fd) })
    t.equal(addon.queued(fd), 0, 'nothing queued yet')
    const client = await open(port)
    t.teardown(() => client.destroy())
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.equal(addon.queued(fd), 1, 'the kernel completed the connection: it waits in the queue')
    const source = new KernelAcceptSource(addon, fd)
    const socket = await source.next()
    t.ok(socket !== undefined, 'next() took it')
    t.equal(addon.queued(fd), 0, 'the queue is empty again')
    t.equal(socket!.remotePort, client.localPort, 'the socket is the client\'s')
    const echoed = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())))
    socket!.end('hello')
    t.equal(await echoed, 'hello')
    source.close()
  })

  t.test('next() waits for a connection when none is queued: pause() ends that wait with nothing, a later next() accepts again', async (t) => {
    const { fd, port } = await listener(t)
    t.teardown(() => { addon.close(fd) })
    const source = new KernelAcceptSource(addon, fd)
    const waiting = source.next()
    const pausedAt = Date.now()
    source.pause()
    t.equal(await waiting, undefined, 'the accept in flight ended empty')
    t.ok(Date.now() - pausedAt < 1000, 'within the wait (100 ms)')
    const again = source.next()
    const client = await open(port)
    t.teardown(() => client.destroy())
    const socket = await again
    t.ok(socket !== undefined, 'accepting again after the pause')
    socket?.destroy()
    source.close()
    t.equal(await source.next(), undefined, 'closed: nothing more')
  })

  t.test('takeQueued() takes what is queued, and nothing when the queue is empty', async (t) => {
    const { fd, port } = await listener(t)
    t.teardown(() => { addon.close(fd) })
    const source = new KernelAcceptSource(addon, fd)
    source.close()
    t.equal(source.takeQueued(), undefined, 'empty queue: nothing, at once')
    const client = await open(port)
    t.teardown(() => client.destroy())
    await new Promise((resolve) => setTimeout(resolve, 50))
    const socket = source.takeQueued()
    t.ok(socket !== undefined, 'a queued connection is taken even after close() (a stopping child owes it an answer)')
    socket?.destroy()
  })

  t.test('peerClosed tells a client that left (FIN) from one that waits', async (t) => {
    const { fd, port } = await listener(t)
    t.teardown(() => { addon.close(fd) })
    const stays = await open(port)
    const leaves = await open(port)
    t.teardown(() => { stays.destroy(); leaves.destroy() })
    leaves.end()
    await new Promise((resolve) => setTimeout(resolve, 50))
    const first = addon.acceptNow(fd)
    const second = await addon.acceptOne(fd, 1)
    t.ok(first >= 0 && second >= 0)
    t.same([addon.peerClosed(first), addon.peerClosed(second)], [0, 1], 'queue order: the one that stays, then the one that left')
    addon.close(first)
    addon.close(second)
    const { EAGAIN } = (await import('node:os')).constants.errno
    t.equal(addon.acceptNow(fd), -EAGAIN, 'acceptNow: EAGAIN at once when nothing waits')
    const waitedFrom = Date.now()
    t.equal(await addon.acceptOne(fd, 1), -EAGAIN, 'acceptOne once: EAGAIN when nothing comes within the wait')
    t.ok(Date.now() - waitedFrom >= 90, 'after the wait (100 ms)')
  })

  t.test('the scoreboard is one memory for the primary and a child process', async (t) => {
    const board = ForkScoreboard.create(addon as KernelAcceptAddon, 4)
    t.teardown(() => { addon.close(board.fd) })
    const script = `
      const addon = { exports: {} }; process.dlopen(addon, ${JSON.stringify(built.path)})
      const cells = new Int32Array(addon.exports.boardMap(3, 32))
      Atomics.store(cells, 2 * 2 + 1, 7); Atomics.store(cells, 2 * 2, ${SLOT_SERVING})`
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'inherit', 'inherit', board.fd] })
    const code = await new Promise((resolve) => child.once('exit', resolve))
    t.equal(code, 0)
    t.equal(board.state(2), SLOT_SERVING, 'the child wrote its slot: serving')
    t.equal(board.served(2), 7, 'and its count')
    t.equal(board.state(1), 0, 'other slots untouched')
  })
}
