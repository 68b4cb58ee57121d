import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { allowedCpus, findTaskset, formatCpuList, parseCpuList, parsePinChoice, pinnedServerSpec, pinningCapNote, planPinning } from '../../src/runner/pinning.js'
import { spawnServer, type RunningServer } from '../../src/runner/server.js'
import { serverSpec } from '../../src/runner/run.js'
import { expandSuite, normalizeSuite } from '../../src/runner/suite.js'

/** Cpus_allowed_list of a process, or of one of its threads. */
function cpusOf (pid: number, tid?: number): string {
  const path = tid === undefined ? `/proc/${pid}/status` : `/proc/${pid}/task/${tid}/status`
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(path, 'utf8'))![1]!
}

/** Every process of the tree under `root` (children found through /proc/PID/task/TID/children). */
function treeOf (root: number): number[] {
  const out = [root]
  for (let i = 0; i < out.length; i++) {
    const pid = out[i]!
    let tids: string[] = []
    try { tids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== '') } catch { /* gone */ }
    out.push(...tids.map(Number))
  }
  return out
}

t.test('CPU lists: parse and format', async (t) => {
  t.same(parseCpuList('0-2,5'), [0, 1, 2, 5])
  t.same(parseCpuList(' 3,1,1 '), [1, 3])
  t.equal(formatCpuList([5, 0, 1, 2]), '0-2,5')
  t.equal(formatCpuList([1, 3]), '1,3')
  t.throws(() => parseCpuList('a-b'), /bad CPU list/)
  t.throws(() => parseCpuList('3-1'), /bad CPU range/)
})

t.test('--pin values: auto, none, SERVER:LOAD; overlapping sets refused', async (t) => {
  t.equal(parsePinChoice('auto'), 'auto')
  t.equal(parsePinChoice('none'), 'none')
  t.same(parsePinChoice('0-1:2-3'), { server: [0, 1], load: [2, 3] })
  t.throws(() => parsePinChoice('0:0'), /overlap/)
  t.throws(() => parsePinChoice('fast'), /expected auto, none, or SERVER_CPUS:LOAD_CPUS/)
})

t.test('planning: disjoint halves, off, and why not', async (t) => {
  const auto = planPinning('auto', [0, 1, 2, 3], '/usr/bin/taskset')
  t.same(auto.plan && { server: auto.plan.server, load: auto.plan.load }, { server: [0, 1], load: [2, 3] })
  t.same(auto.record, { mode: 'auto', serverCpus: '0-1', loadCpus: '2-3', method: 'taskset', note: null })
  const two = planPinning('auto', [0, 1], '/usr/bin/taskset')
  t.equal(two.record.serverCpus, '0')
  t.equal(two.record.loadCpus, '1')
  t.equal(planPinning('none', [0, 1], '/usr/bin/taskset').record.mode, 'off')
  const one = planPinning('auto', [0], '/usr/bin/taskset')
  t.equal(one.plan, null)
  t.match(one.record, { mode: 'unavailable', note: /only 1 usable CPU/ })
  t.match(planPinning('auto', [0, 1], null).record, { mode: 'unavailable', note: /taskset \(util-linux\) not found/ })
  t.match(planPinning({ server: [0], load: [7] }, [0, 1], '/usr/bin/taskset').record, { mode: 'unavailable', note: /CPU\(s\) 7 not usable/ })
  t.match(planPinning({ server: [1], load: [0] }, [0, 1], '/usr/bin/taskset').record, { mode: 'manual', serverCpus: '1', loadCpus: '0' })
})

t.test('a note when pinning leaves multi-worker targets fewer CPUs than workers', async (t) => {
  const targets = [{ label: 'event-loop', workers: null }, { label: 'cluster', workers: 2 }, { label: 'pool', workers: 2 }, { label: 'cluster', workers: 2 }]
  const two = planPinning('auto', [0, 1], '/usr/bin/taskset').plan
  const note = pinningCapNote(two, targets)
  t.match(note, /pinned to CPU 0: cluster \(2 workers\), pool \(2 workers\) ran on it/, 'each capped target once')
  t.match(note, /--pin none/)
  t.equal(pinningCapNote(planPinning('auto', [0, 1, 2, 3], '/usr/bin/taskset').plan, targets), null, '2 server CPUs for 2 workers: nothing capped')
  t.match(pinningCapNote(planPinning('auto', [0, 1, 2, 3], '/usr/bin/taskset').plan, [{ label: 'pool', workers: 3 }]), /pinned to 2 CPUs 0-1: pool \(3 workers\) ran on them/)
  t.equal(pinningCapNote(null, targets), null, 'not pinned: nothing to say')
})

t.test('a pinned server: every process and thread of its tree on the server CPUs (Cpus_allowed_list)', async (t) => {
  const usable = allowedCpus('self')
  const taskset = findTaskset()
  t.ok(usable !== null && usable.length >= 1, 'the usable CPUs are readable')
  const { plan, record } = planPinning('auto', usable, taskset)
  if (plan === null) {
    // a single CPU or no taskset here: the run must say so instead of pretending
    t.equal(record.mode, 'unavailable')
    t.ok(record.note !== null && record.note !== '', `why: ${record.note}`)
    return
  }
  // cluster (2 worker processes) and pool (worker threads): children and threads started after the pin
  const suite = normalizeSuite({ name: 'pin', models: [{ model: 'cluster', workers: 2 }, { model: 'pool', workers: 2 }], peers: false, workloads: [{ handler: 'echo' }] })
  for (const sc of expandSuite(suite)) {
    const spec = pinnedServerSpec(serverSpec(sc), plan)
    t.equal(spec.command, taskset, 'started through taskset')
    const server: RunningServer = spawnServer(spec, sc.target.label)
    t.teardown(async () => { await server.stop(2000) })
    await server.ready(20_000)
    const want = formatCpuList(plan.server)
    const pids = treeOf(server.pid)
    t.ok(pids.length >= (sc.target.name === 'cluster' ? 3 : 1), `${sc.target.label}: tree ${pids.join(', ')}`)
    for (const pid of pids) {
      t.equal(cpusOf(pid), want, `${sc.target.label}: pid ${pid} on CPU ${want}`)
    }
    // every thread (pool's worker threads included)
    for (const pid of pids) {
      const tids = readdirSync(`/proc/${pid}/task`).map(Number)
      if (sc.target.name === 'pool') t.ok(tids.length > 4, `pool: threads ${tids.length}`)
      for (const tid of tids) t.equal(cpusOf(pid, tid), want, `${sc.target.label}: thread ${tid} of ${pid} on CPU ${want}`)
    }
    t.notOk(plan.load.some((c) => parseCpuList(want).includes(c)), 'disjoint from the load CPUs')
    await server.stop(3000)
  }
})
