/**
 * The arbiter kills a child that said bye but hangs in its own exit (Node's exit can deadlock:
 * nodejs/node#54918), in every multi-process model from the registry: it is replaced while the server
 * runs, and at a stop it is not a connection cut short (the stop stays clean).
 */
import t from 'tap'
import { BUILTIN_MODELS } from '@echoplex/server'
import { EXIT_HANG_MS } from '../../src/ipc/arbiter.js'
import { Client } from '../helpers/client.js'
import { fixture, modelStats as stats, startServer } from '../helpers/server.js'
import { alive, readProcessTree, waitFor } from '../helpers/proc.js'

const processModels = BUILTIN_MODELS.filter((d) => d.suites.killable !== undefined)
t.ok(processModels.length >= 3, `multi-process models: ${processModels.map((d) => d.name).join(', ')}`)

const HUNG_LINE = 'did not exit (a Node exit deadlock'

/** The pid serving the client's connection (its first line asked). */
async function who (c: Client): Promise<number> {
  c.socket.write('who\n')
  await c.until(() => c.data().includes(10), 10_000, 'a reply')
  return Number(c.data().toString().trim())
}

/** The pid that served one line on a fresh connection. */
async function servedBy (port: number): Promise<number> {
  const c = await Client.open(port)
  try {
    return await who(c)
  } finally {
    c.destroy()
  }
}

for (const model of processModels) {
  const sizing = model.bench.workers ? ['--workers', '2'] : ['--spares', '1']

  t.test(`${model.name}: a child hung in its exit after bye is killed and replaced; the server serves on`, async (t) => {
    // recycled after one message (strict fork: its child ends with its connection anyway)
    const server = await startServer(t, ['--model', model.name, ...sizing, '--handler', fixture('hangs-at-exit.mjs'), '--max-requests', '1'])
    const first = await servedBy(server.port)
    t.ok(first > 0 && first !== server.pid, `served by child ${first}`)
    // it said bye, then hung: killed EXIT_HANG_MS later, not left holding its place
    await waitFor(() => alive([first]).length === 0, EXIT_HANG_MS + 5000, `child ${first} to be gone`)
    const s = await stats(server)
    t.ok(s.extra.exitHangKilled >= 1, `killed hung in exit: ${s.extra.exitHangKilled}`)
    t.match(server.stderr(), HUNG_LINE, 'the kill is logged with its cause')
    t.equal(s.extra.countersLost, 0, 'its counters came in its bye: none lost')
    const next = await servedBy(server.port)
    t.ok(next > 0 && next !== first, `the next connection is served (by ${next})`)
    // children serving or hung now: a stop still ends clean, every one of them gone
    const tree = (await readProcessTree(server.pid, { pss: false, connections: false })).processes.map((p) => p.pid).filter((p) => p !== server.pid)
    t.equal(await server.stop(), 0, 'a clean stop')
    await waitFor(() => alive(tree).length === 0, 5000, 'every child to be gone')
    t.same(alive(tree), [], 'no orphan')
  })

  t.test(`${model.name}: a child killed while serving left no last report: its counters are said to be lost`, async (t) => {
    const server = await startServer(t, ['--model', model.name, ...sizing, '--handler', fixture('hangs-at-exit.mjs')])
    const c = await Client.open(server.port)
    t.teardown(() => c.destroy())
    const pid = await who(c)
    t.equal((await stats(server)).extra.countersLost, 0, 'none lost before')
    process.kill(pid, 'SIGKILL')
    await waitFor(async () => (await stats(server)).extra.countersLost === 1, 10_000, 'the loss to be counted').catch(() => {})
    t.equal((await stats(server)).extra.countersLost, 1, `child ${pid}'s counters are lost`)
    const warning = server.stderr().split('\n').find((line) => line.includes('exited without its last report'))
    t.ok(warning !== undefined, 'a warning says why')
    t.match(warning, `:${pid},`, 'and names it')
    t.equal(await server.stop(), 0, 'a clean stop')
  })

  t.test(`${model.name}: children that hang in their exit at a stop are not connections cut short`, async (t) => {
    const server = await startServer(t, ['--model', model.name, ...sizing, '--handler', fixture('hangs-at-exit.mjs')])
    const child = await servedBy(server.port)
    const tree = (await readProcessTree(server.pid, { pss: false, connections: false })).processes.map((p) => p.pid).filter((p) => p !== server.pid)
    t.ok(tree.includes(child), `child ${child} is in the tree`)
    // every child drains, says bye and hangs: each is killed as hung, and the stop is clean (exit 0, not 3)
    t.equal(await server.stop(), 0, 'a clean stop')
    t.match(server.stderr(), HUNG_LINE, 'the hung children were killed as such')
    t.notMatch(server.stderr(), 'still open after', 'no connection counted as cut')
    t.same(alive(tree), [], 'no orphan')
  })
}
