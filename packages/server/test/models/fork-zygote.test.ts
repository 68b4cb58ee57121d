import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { Client } from '../helpers/client.js'
import { fixture, modelStats as stats, runCli, startServer } from '../helpers/server.js'
import { alive, countZombies, pidsWithRole, readProcessTree, waitFor } from '../helpers/proc.js'

/** The parent pid of a live process, from /proc. */
const ppidOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1])

/** The zombies among `root`'s children, as pid(comm) ppid. */
function zombiesUnder (root: number): string {
  const out: string[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const [state, ppid] = stat.replace(/^.*\) /s, '').split(' ')
      if (state === 'Z' && Number(ppid) === root) out.push(`${name}${/\((.*)\)/.exec(stat)?.[0] ?? ''}`)
    } catch {}
  }
  return out.join(', ') || 'none now'
}

async function whoami (port: number): Promise<{ client: Client, pid: number }> {
  const client = await Client.open(port)
  client.write('who\n')
  const pid = Number((await client.waitBytes(2, 10_000)).toString().trim().split('\n')[0])
  return { client, pid }
}

t.test('strict fork forks each child from the zygote: a process of its own per connection, its own pid', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--handler', fixture('whoami.mjs')])
  const [zygote] = await pidsWithRole(server.pid, 'zygote')
  t.ok(zygote !== undefined, 'a zygote runs under the primary')
  t.equal(ppidOf(zygote!), server.pid, "the zygote is the primary's child")
  const served = await Promise.all([0, 1, 2].map(async () => await whoami(server.port)))
  t.teardown(() => served.forEach((s) => s.client.destroy()))
  const pids = served.map((s) => s.pid)
  t.equal(new Set(pids).size, 3, `three connections, three processes (ctx.pid ${pids.join(', ')})`)
  t.notOk(pids.includes(zygote!) || pids.includes(server.pid), 'ctx.pid is the child\'s own, not the zygote\'s')
  for (const pid of pids) t.equal(ppidOf(pid), zygote, `child ${pid} was forked by the zygote`)
  // a child can answer before its `forked` reaches the primary (the zygote says it after the fork):
  // the count catches up within a moment
  let s = await stats(server)
  t.equal(s.extra.boot, 'zygote', 'the stats say how children start')
  await waitFor(async () => (s = await stats(server)).extra.zygote.forks >= 3, 3000, 'the fork count').catch(() => {})
  t.ok(s.extra.zygote.forks >= 3, `the zygote forked them (${s.extra.zygote.forks})`)
  for (const { client } of served) client.destroy()
  // each child leaves with its connection, and is reaped
  await waitFor(() => alive(pids).length === 0, 5000, 'the children to exit').catch(() => {})
  t.same(alive(pids), [], 'every child exited')
  // the zygote reaps them as their SIGCHLD reaches it: a moment after they exit
  await waitFor(async () => await countZombies(server.pid) === 0, 3000, 'no zombie').catch((err: Error) => {
    throw new Error(`${err.message}: ${zombiesUnder(zygote!)} under the zygote, ${zombiesUnder(server.pid)} under the primary`)
  })
  t.pass('no zombie')
})

t.test('the zygote killed: its children go with it and are reaped, another zygote serves the next connections', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--handler', fixture('whoami.mjs')])
  const [zygote] = await pidsWithRole(server.pid, 'zygote')
  const held = await whoami(server.port)
  t.teardown(() => held.client.destroy())
  process.kill(zygote!, 'SIGKILL')
  // the child dies with its zygote (its parent-death signal): its connection closes
  await held.client.waitClose(5000)
  t.pass('the connection of the zygote\'s child closed')
  let next: number | undefined
  await waitFor(async () => (next = (await pidsWithRole(server.pid, 'zygote'))[0]) !== undefined && next !== zygote, 5000, 'another zygote')
  const after = await whoami(server.port)
  t.teardown(() => after.client.destroy())
  t.equal(ppidOf(after.pid), next, 'the next connection is served by a child of the new zygote')
  t.same(alive([held.pid]), [], 'the orphaned child is gone')
  // the orphan was reparented to the primary (a subreaper), which reaped it
  await waitFor(async () => await countZombies(server.pid) === 0, 3000, 'no zombie').catch((err: Error) => {
    throw new Error(`${err.message}: ${zombiesUnder(server.pid)} (the old zygote ${zygote}, its child ${held.pid})`)
  })
  const tree = await readProcessTree(server.pid, { pss: false })
  t.notOk(tree.processes.some((p) => p.pid === held.pid), 'the orphan is not left under the primary')
  t.equal((await stats(server)).extra.zygote.restarts, 1, 'the stats count the restart')
})

t.test('SIGTERM to the whole process group: the server stops once, the zygote with it, and nothing is taken for a crash', async (t) => {
  const server = await startServer(t, ['--model', 'fork', '--handler', fixture('whoami.mjs')])
  const [zygote] = await pidsWithRole(server.pid, 'zygote')
  const held = await whoami(server.port)
  t.teardown(() => held.client.destroy())
  // what `kill -TERM -PGID` or a closing terminal does: the primary, the zygote and the child all get it
  process.kill(-server.pid, 'SIGTERM')
  t.equal(await server.exited, 0, 'the server stopped cleanly')
  t.notMatch(server.stderr(), /zygote exited|starting another/, `the zygote was not restarted (stderr: ${server.stderr().trim() || 'empty'})`)
  await waitFor(() => alive([zygote!, held.pid]).length === 0, 3000, 'the zygote and its child to be gone').catch(() => {})
  t.same(alive([zygote!, held.pid]), [], 'the zygote and its child are gone')
})

t.test('--child-boot zygote is for strict fork: with reuse it is one line of error', async (t) => {
  const { code, stderr } = await runCli(['serve', '--model', 'fork-reuse', '--child-boot', 'zygote', '--port', '0', '--handler', 'echo'])
  t.equal(code, 2)
  t.equal(stderr.trim().split('\n').length, 1, 'one line')
  t.match(stderr, /--child-boot.*zygote cannot be used.*strict fork/)
})
