import t from 'tap'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readResults, validateResults, type FlameNode } from '@echoplex/results'
import { normalizeSuite } from '../../src/runner/suite.js'
import { runSuite } from '../../src/runner/run.js'
import { allowedCpus, findTaskset, formatCpuList, planPinning } from '../../src/runner/pinning.js'

const dir = mkdtempSync(join(tmpdir(), 'echoplex-measure-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const cpusOfThread = (tid: string): string => /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))![1]!

t.test('rounds, pinning of the generator, timelines and a fixed-rate scenario, end to end', async (t) => {
  const before = formatCpuList(allowedCpus('self')!)
  const expected = planPinning('auto', allowedCpus('self'), findTaskset())
  const suite = normalizeSuite({
    name: 'measure',
    repetitions: 2,
    durationMs: 1200,
    warmupMs: 300,
    idleSettleMs: 50,
    connections: [4],
    models: ['event-loop'],
    peers: ['node-net'],
    workloads: [{ handler: 'echo', fixedRate: 0.5 }],
  })
  const out = join(dir, 'measure.json')
  // the generator's affinity while it loads: every thread of this process
  const seen: string[] = []
  const results = await runSuite(suite, {
    outPath: out,
    onProgress: (e) => { if (e.type === 'run-start') for (const tid of readdirSync('/proc/self/task')) seen.push(cpusOfThread(tid)) },
  })
  const read = readResults(out)
  t.equal(validateResults(read), null, 'the file validates')
  t.equal(read.schemaVersion, 2)
  t.same(read.environment.pinning, expected.record, 'pinning recorded')
  t.equal(formatCpuList(allowedCpus('self')!), before, 'the runner\'s own CPUs restored afterwards')
  if (expected.plan !== null) {
    t.same([...new Set(seen)], [expected.record.loadCpus], 'every generator thread on the load CPUs during the run')
  } else {
    t.same([...new Set(seen)], [before], 'not pinned: the generator keeps its CPUs')
  }

  // rounds: A B, B A for the closed loop, then the fixed-rate rounds, in the same turns
  const reps = results.scenarios.flatMap((s) => s.repetitions.map((r) => ({ id: s.id, r })))
  const order = [...reps].sort((a, b) => Date.parse(a.r.startedAt) - Date.parse(b.r.startedAt)).map((x) => `${x.id.split(':')[1]}${x.id.endsWith('@fixed-rate') ? '@rate' : ''}#${x.r.repetition}/${x.r.round}`)
  t.same(order, ['event-loop#1/1', 'node-net#1/1', 'node-net#2/2', 'event-loop#2/2', 'event-loop@rate#1/3', 'node-net@rate#1/3', 'node-net@rate#2/4', 'event-loop@rate#2/4'])

  for (const s of results.scenarios) {
    t.equal(s.status, 'ok', `${s.id}: ok (${s.reason ?? ''})`)
    for (const r of s.repetitions) {
      if (expected.plan !== null) t.equal(r.server.cpus, expected.record.serverCpus, `${s.id}: server on the server CPUs`)
      t.ok(r.server.command.length > 0)
      // timeline: per second, throughput and p99 in the window, tree RSS and CPU
      const tl = r.timeline!
      t.ok(tl !== null && tl.intervalMs === 1000, `${s.id}: a timeline`)
      const inWindow = tl.points.filter((p) => p.t >= 0 && p.t < 1000)
      t.ok(inWindow.length === 1 && (inWindow[0]!.requestsPerSec ?? 0) > 0 && (inWindow[0]!.p99Ms ?? 0) > 0, `${s.id}: throughput and p99 in second 0`)
      t.ok(tl.points.some((p) => (p.rssBytes ?? 0) > 0 && p.cpuPercent !== null), `${s.id}: tree RSS and CPU`)
      const sum = tl.points.reduce((n, p) => n + (p.t >= 0 ? (p.requestsPerSec ?? 0) : 0), 0)
      t.ok(sum > 0, `${s.id}: requests over the timeline`)
      t.equal((r.load as { seconds?: unknown }).seconds, undefined, 'the per-second source moved into the timeline')
    }
  }
  // the fixed rate: half the only model's median, the same for the peer, served at that rate
  const model = results.scenarios.find((s) => s.id === 'echo:event-loop:64B:c4:keep-alive')!
  const fixed = results.scenarios.filter((s) => s.fixedRate != null)
  t.equal(fixed.length, 2)
  const rate = Math.round(model.summary!.requestsPerSec!.median * 0.5)
  for (const s of fixed) {
    t.equal(s.rate?.requestsPerSec, rate, `${s.id}: rate from event-loop's closed loop`)
    t.equal(s.comparison, null, 'no req/s ratio at a fixed rate')
    for (const r of s.repetitions) {
      t.equal(r.load?.openLoop?.rate, rate, 'the load ran open loop at that rate')
      const got = r.load!.throughput.requestsPerSec
      t.ok(got > rate * 0.6 && got < rate * 1.4, `${s.id}: served about the rate (${got} of ${rate} req/s)`)
    }
  }
})

function find (n: FlameNode, pred: (x: FlameNode) => boolean): FlameNode | null {
  if (pred(n)) return n
  for (const c of n.children) { const f = find(c, pred); if (f !== null) return f }
  return null
}

t.test('--profile: profiles of every process and thread; pool\'s hand-off and fork\'s boot in the flame tree', async (t) => {
  const suite = normalizeSuite({
    name: 'profile',
    durationMs: 1000,
    warmupMs: 200,
    idleSettleMs: 50,
    connections: [4],
    models: [{ model: 'pool', workers: 2 }, 'fork'],
    peers: false,
    // fork's boot is looked for under churn (a child per connection): from the snapshot a boot is a few
    // samples (~5 ms), and next to a second of keep-alive serving it sat near the flame tree's pruning
    // share (MIN_FLAME_SHARE): once on Node 24 it was pruned away
    workloads: [{ handler: 'echo', modes: ['keep-alive', 'churn'] }],
  })
  const out = join(dir, 'profile.json')
  const profileDir = join(dir, 'profile.profiles')
  const results = await runSuite(suite, { outPath: out, profileDir, pin: 'none' })
  t.equal(validateResults(readResults(out)), null, 'the file validates')
  const byId = Object.fromEntries(results.scenarios.map((s) => [s.id, s]))
  for (const s of results.scenarios) {
    t.equal(s.status, 'ok', `${s.id}: ok (${s.reason ?? ''})`)
    const p = s.repetitions[0]!.profile!
    t.ok(p !== null && p.flame !== null, `${s.id}: a flame tree`)
    t.equal(p.dir, join('profile.profiles', s.id.replace(/[^A-Za-z0-9._-]+/g, '_'), 'rep-1'), 'relative to the results')
    for (const f of p.files) t.ok(existsSync(join(dir, p.dir, f.file)) && f.bytes > 0, `${f.file} written`)
  }
  const pool = byId['echo:pool:64B:c4:keep-alive']!.repetitions[0]!.profile!
  t.ok(pool.files.filter((f) => f.role === 'primary worker threads').length >= 2, 'pool: a profile per worker thread')
  t.ok(pool.files.some((f) => f.role === 'primary'), 'pool: the primary')
  const poolPrimary = pool.flame!.children.find((c) => c.name === 'primary')!
  const poolWorkers = pool.flame!.children.find((c) => c.name === 'primary worker threads')!
  // the hand-off: the primary posts tasks to the pool and takes their results, the workers wait for them
  t.ok(find(poolPrimary, (n) => n.where.includes('pool-thread')) !== null, 'pool: the primary\'s side of the hand-off (pool-thread: batches out, results in)')
  t.ok(find(poolWorkers, (n) => n.where.includes('pool-worker')) !== null, 'pool: the workers\' side of the hand-off (pool-worker: batches in, results out)')
  const fork = byId['echo:fork:64B:c4:churn']!.repetitions[0]!.profile!
  t.ok(fork.files.filter((f) => f.role === 'child processes').length >= 4, `fork: a profile per child (${fork.files.length} files)`)
  const children = fork.flame!.children.find((c) => c.name === 'child processes')!
  // a child started from its startup snapshot (the default) boots in deserializeMain
  // (v8/startup_snapshot) and pre_execution; one started from the bundle loads it (main, modules)
  const boot = children.children.filter((c) => /^node:internal\/(main|modules|bootstrap|v8\/startup_snapshot|process\/pre_execution)/.test(c.where)).reduce((n, c) => n + c.total, 0)
  // present, not a set share: the boot's share keeps shrinking (40 % of the children's samples before
  // the bundle, 15–20 % after on Node 20, 1–2 % from the snapshot, whose boot runs little JavaScript)
  t.ok(boot > 0, `fork: the children's boot is in the flame tree (${(boot / children.total * 100).toFixed(1)}% of their samples)`)
  t.ok(find(children, (n) => n.where.startsWith('node:internal/v8/startup_snapshot')) !== null, 'fork: the children started from their startup snapshot (deserializeMain)')
})
