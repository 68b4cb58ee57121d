import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { buildKernelAccept } from '@echoplex/server/sources/kernel-accept.js'
import { childForkOptions } from '@echoplex/server/ipc/spawner.js'
import { alive, waitFor } from '../helpers/proc.js'

const PARENT_DEATH = fileURLToPath(new URL('../../dist/ipc/parent-death.js', import.meta.url))
const built = await buildKernelAccept()

// a child that arms its parent-death signal as a fork child does, says so, then blocks its event loop for good
const LOOPING_CHILD = `import(${JSON.stringify(PARENT_DEATH)}).then(({ dieWithParent }) => { dieWithParent(); process.stdout.write('armed ' + process.pid + '\\n'); for (;;) {} })`

if (!built.ok) {
  t.pass(`no fork addon here (${built.reason}): children are started through setpriv`)
} else {
  t.test('childForkOptions with the addon: no setpriv exec; the child is told its parent and the addon', async (t) => {
    const o = childForkOptions({}, { parentDeathAddon: built.path })
    t.equal(o.execPath, undefined, 'node itself, not setpriv')
    t.equal(o.env?.ECHOPLEX_PARENT_DEATH, `prctl:${process.pid}:${built.path}`)
  })

  t.test('a child that set its parent-death signal itself dies with its parent, its event loop blocked', async (t) => {
    // parent: starts the looping child with the env a fork primary gives, prints its pid, then waits
    const parent = spawn(process.execPath, ['-e', `
      const { spawn } = require('node:child_process')
      const child = spawn(process.execPath, ['--input-type=module', '-e', ${JSON.stringify(LOOPING_CHILD)}], {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, ECHOPLEX_PARENT_DEATH: 'prctl:' + process.pid + ':' + ${JSON.stringify(built.path)} },
      })
      setInterval(() => {}, 1000)`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
    t.teardown(() => { try { process.kill(-parent.pid!, 'SIGKILL') } catch {} })
    let out = ''
    parent.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
    await waitFor(() => /armed \d+/.test(out), 10_000, 'the child to arm its signal')
    const child = Number(/armed (\d+)/.exec(out)![1])
    t.same(alive([child]), [child], 'the child runs (looping)')
    process.kill(parent.pid!, 'SIGKILL')
    await once(parent, 'exit')
    await waitFor(() => alive([child]).length === 0, 3000, 'the child to be killed with its parent').catch(() => {})
    t.same(alive([child]), [], 'gone with its parent')
  })

  t.test('a child whose parent is already gone when it arms the signal exits at once', async (t) => {
    // a ppid that is not its parent's: as if the parent died (and the child was re-parented) before
    const child = spawn(process.execPath, ['--input-type=module', '-e', LOOPING_CHILD], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ECHOPLEX_PARENT_DEATH: `prctl:999999999:${built.path}` },
    })
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const [code] = await once(child, 'exit') as [number | null]
    clearTimeout(timer)
    t.equal(code, 0, 'exited by itself')
    t.equal(out, '', 'never got to serve')
  })
}
