import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LoadSummary, ScenarioConfig, ScenarioResult } from '@echoplex/results'
import { deriveRate, runOrder } from '../../src/runner/fixed-rate.js'
import { buildTimeline, slowStart, stillWarming } from '../../src/runner/timeline.js'
import { addProfile, collectProfile, pruneFlame, roleOf } from '../../src/runner/profile.js'
import { expandSuite, normalizeSuite } from '../../src/runner/suite.js'
import type { SampleRecord } from '../../src/runner/window.js'
import { mergeSeconds, SecondBuckets } from '../../src/load/per-second.js'

const sc = (id: string, fixed = false): ScenarioConfig => ({ id, fixedRate: fixed ? { of: 'g', fraction: 0.5 } : null } as unknown as ScenarioConfig)

t.test('run order: rounds across scenarios, each starting one further on; closed loop first, then the fixed-rate rounds', async (t) => {
  const order = runOrder([sc('A'), sc('B'), sc('C'), sc('F1', true), sc('F2', true)], 3)
  t.same(order.map((r) => `${r.sc.id}${r.repetition}`), ['A1', 'B1', 'C1', 'B2', 'C2', 'A2', 'C3', 'A3', 'B3', 'F11', 'F21', 'F22', 'F12', 'F13', 'F23'])
  t.same(order.map((r) => r.round), [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 6])
  // over as many rounds as scenarios, every scenario runs once in every place of a round
  const places = new Map<string, Set<number>>()
  order.slice(0, 9).forEach((r, i) => places.set(r.sc.id, (places.get(r.sc.id) ?? new Set()).add(i % 3)))
  t.same([...places.values()].map((p) => p.size), [3, 3, 3])
  t.same(runOrder([sc('A'), sc('B')], 1).map((r) => r.sc.id), ['A', 'B'], 'one repetition: the suite\'s order')
})

t.test('suites: one fixed-rate scenario per raw TCP workload, after the closed-loop ones', async (t) => {
  const suite = normalizeSuite({
    name: 'fr', fixedRate: true, models: ['event-loop', 'fork'], peers: ['node-net', 'node-http'], connections: [4, 16], payloadBytes: [64, 1024],
    workloads: [{ handler: 'echo' }, { handler: 'http' }, { handler: 'upper', fixedRate: false }],
  })
  const all = expandSuite(suite)
  const fixed = all.filter((s) => s.fixedRate != null)
  t.same(fixed.map((s) => s.id), ['echo:event-loop:64B:c4:keep-alive@fixed-rate', 'echo:fork:64B:c4:keep-alive@fixed-rate', 'echo:node-net:64B:c4:keep-alive@fixed-rate'])
  t.ok(fixed.every((s) => s.fixedRate!.of === 'echo:64B:c4:keep-alive' && s.fixedRate!.fraction === 0.5 && s.loadTool === 'tcp'))
  t.ok(all.indexOf(fixed[0]!) > all.findIndex((s) => s.workload.name === 'upper'), 'after every closed-loop scenario')
  t.equal(new Set(all.map((s) => s.id)).size, all.length, 'ids stay unique')
  t.equal(normalizeSuite({ name: 'x', workloads: [{ handler: 'echo' }] }).workloads[0]!.fixedRate, null, 'off unless asked for')
  t.throws(() => normalizeSuite({ name: 'x', workloads: [{ handler: 'echo', fixedRate: 2 }] }), /fixedRate/)
})

t.test('the fixed rate: a share of the slowest model that ran ok in the closed-loop group', async (t) => {
  const rep = (rps: number, status = 'ok'): unknown => ({ status, load: { throughput: { requestsPerSec: rps } } })
  const res = (label: string, kind: string, rps: number[], status = 'ok'): ScenarioResult => ({
    group: 'g', target: { kind, label }, fixedRate: null, repetitions: rps.map((v) => rep(v, status)),
  } as unknown as ScenarioResult)
  const got = deriveRate({ of: 'g', fraction: 0.5 }, [res('fast', 'model', [9000, 11000, 10000]), res('slow', 'model', [4000, 3000, 5000]), res('peer', 'peer', [100]), res('bad', 'model', [10], 'failed')])
  t.equal(got?.requestsPerSec, 2000, 'half the slowest ok model\'s median (the failed one and the peer do not count)')
  t.match(got?.basis, /slow: 4000 req\/s in g/)
  t.equal(deriveRate({ of: 'g', fraction: 0.5 }, [res('bad', 'model', [10], 'failed')]), null, 'nothing ran ok: no rate')
})

t.test('per-second buckets: counts and p99 by second, merged across engines', async (t) => {
  const a = new SecondBuckets()
  const b = new SecondBuckets()
  for (let i = 0; i < 100; i++) a.record(100 + i, 1)
  a.record(500, 100) // one slow request in second 0
  for (let i = 0; i < 50; i++) b.record(1500 + i, 2)
  b.record(-5, 1) // before the start: ignored
  const m = mergeSeconds([a.result(), b.result()], 1000, 200)!
  t.same(m.completed, [101, 50])
  t.ok(m.p99Ms[0]! >= 0.99 && m.p99Ms[0]! < 1.1, `p99 of second 0 (${m.p99Ms[0]})`)
  t.ok(m.p99Ms[1]! >= 1.98 && m.p99Ms[1]! < 2.1, `p99 of second 1 (${m.p99Ms[1]})`)
  t.equal(m.origin, 1000)
  t.equal(m.warmupMs, 200)
})

t.test('timeline: load seconds and the tree samples per interval, the connect phase before 0', async (t) => {
  const origin = 1_000_000
  const load = {
    startedAt: new Date(origin + 500).toISOString(),
    windowMs: 2000,
    seconds: { intervalMs: 1000, origin, warmupMs: 500, completed: [1000, 2000, 500, 3], p99Ms: [5, 2, 9, 1] },
  } as unknown as LoadSummary
  const rec = (at: number, cpu: number, rss: number, processes = 1): SampleRecord => ({ at, cpuPercent: cpu, rssBytes: rss, pssBytes: null, processes, threads: 7, zombies: 0 })
  const records = [rec(origin - 1500, NaN, 10, 1), rec(origin - 400, 50, 20, 4), rec(origin + 100, 90, 30, 4), rec(origin + 600, 110, 40, 4), rec(origin + 1200, 100, 35, 4), rec(origin + 2400, 80, 33, 4)]
  const tl = buildTimeline(load, records, 500)!
  t.equal(tl.origin, origin)
  t.same(tl.points.map((p) => p.t), [-2000, -1000, 0, 1000, 2000])
  t.same(tl.points[0], { t: -2000, rssBytes: 10, processes: 1, cpuPercent: null }, 'connect phase: tree only (first sample has no CPU yet)')
  t.same(tl.points[2], { t: 0, requestsPerSec: 1000, p99Ms: 5, cpuPercent: 100, rssBytes: 40, processes: 4 })
  t.equal(tl.points[3]!.requestsPerSec, 2000)
  t.equal(tl.points[4]!.requestsPerSec, 1000, 'the last interval (cut at 2.5 s) is a rate over what it covered')
  t.equal(tl.points[4]!.p99Ms, 9)
})

t.test('stillWarming: req/s that rose through the measured window is flagged; a flat or noisy one is not', async (t) => {
  const origin = 1_000_000
  /** A 3 s window after 500 ms of warm-up, with these completions per second from the load's start. */
  const run = (completed: number[]): string | null => {
    const load = {
      startedAt: new Date(origin + 500).toISOString(),
      windowMs: 3000,
      seconds: { intervalMs: 1000, origin, warmupMs: 500, completed, p99Ms: completed.map(() => 1) },
    } as unknown as LoadSummary
    return stillWarming(buildTimeline(load, [], 500), load)
  }
  // whole measured seconds: those starting at 1 s and 2 s (0 s is partly warm-up, 3 s is cut at 3.5 s)
  t.match(run([100, 1000, 1400, 900]), /req\/s rose 40% through the measurement \(1,000 → 1,400 in its first and last second\): the server was still warming up/)
  t.equal(run([100, 1000, 1100, 3000]), null, 'a 10% rise is noise; the cut last second and the warm-up do not count')
  t.equal(run([100, 1400, 1000, 900]), null, 'a fall is not warming up')
  t.equal(run([100, 0, 500]), null, 'nothing served in the first second: no ratio')
  t.equal(stillWarming(null, {} as LoadSummary), null, 'no timeline')
})

t.test('slowStart: a fixed-rate p99 set by a slow first second is flagged; a steady or evenly noisy one is not', async (t) => {
  const origin = 1_000_000
  /** A 4 s window after `warmupMs` of warm-up, with this p99 per second from the load's start and this p99 over the window. */
  const run = (p99Ms: number[], p99: number, warmupMs = 500): string | null => {
    const load = {
      startedAt: new Date(origin + warmupMs).toISOString(),
      windowMs: 4000,
      latency: { p99 },
      seconds: { intervalMs: 1000, origin, warmupMs, completed: p99Ms.map(() => 1000), p99Ms },
    } as unknown as LoadSummary
    return slowStart(buildTimeline(load, [], warmupMs), load)
  }
  // the measurement begins in second 0 (at 500 ms); seconds 1, 2 and 3 are whole and later
  t.equal(run([131, 2.4, 4.5, 3.8, 4.9], 23.9), 'p99 24 ms over the measurement, 3.8 ms in its later seconds: its first second was slow (131 ms), so the server was still warming up (--steady-warmup measures it warm)')
  t.equal(run([4, 2.4, 4.5, 3.8, 4.9], 4.2), null, 'a steady window')
  t.equal(run([3, 2, 40, 3, 3], 9), null, 'a spike later in the window is not a slow start (the first second was not the slow one)')
  t.equal(run([131, 20, 25, 30, 24], 40), null, 'the later seconds are slow too: under twice their p99, no warm-up to blame')
  t.match(run([90, 2, 3, 2, 3], 30, 0), /first second was slow \(90 ms\)/, 'no warm-up: the first second is the one the measurement began in')
  t.equal(run([131, 2], 20), null, 'fewer than two whole later seconds')
  t.equal(slowStart(null, {} as LoadSummary), null, 'no timeline')
})

const frame = (id: number, functionName: string, children: number[] = [], url = ''): unknown => ({ id, callFrame: { functionName, url, lineNumber: 0, columnNumber: 0, scriptId: '0' }, children })

t.test('profiles: V8 samples merged by frame, idle dropped, small frames pruned', async (t) => {
  const profile = {
    nodes: [frame(1, '(root)', [2, 3, 6]), frame(2, '(idle)'), frame(3, 'main', [4, 5], 'file:///x/app.js'), frame(4, 'hot'), frame(5, 'rare'), frame(6, '(garbage collector)')],
    samples: [2, 2, 2, 4, 4, 4, 4, 4, 4, 3, 5, 6, 6],
  }
  const root = { name: 'all', where: '', total: 0, self: 0, children: [] }
  t.equal(addProfile(root, profile as never), 10, 'idle samples are not CPU')
  addProfile(root, profile as never) // a second process: merged into the same frames
  t.equal(root.total, 20)
  const main = root.children.find((c: { name: string }) => c.name === 'main')!
  t.match(main, { total: 16, self: 2, where: '/x/app.js:1' })
  t.same(main.children.map((c: { name: string, total: number }) => [c.name, c.total]), [['hot', 12], ['rare', 2]])
  const pruned = pruneFlame(root, 3)
  t.same(pruned.children.map((c) => c.name), ['main', '(garbage collector)'])
  t.same(pruned.children[0]!.children.map((c) => c.name), ['hot'], 'frames under the threshold pruned')
  t.equal(roleOf(10, 0, 10), 'primary')
  t.equal(roleOf(10, 2, 10), 'primary worker threads')
  t.equal(roleOf(11, 0, 10), 'child processes')
})

t.test('collectProfile: files listed with pid, thread and role; truncated files counted, not merged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-prof-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const p = JSON.stringify({ nodes: [frame(1, '(root)', [2]), frame(2, 'work')], samples: [2, 2, 2] })
  writeFileSync(join(dir, 'CPU.20260101.000000.100.0.001.cpuprofile'), p)
  writeFileSync(join(dir, 'CPU.20260101.000000.100.3.002.cpuprofile'), p)
  writeFileSync(join(dir, 'CPU.20260101.000000.200.0.003.cpuprofile'), p.slice(0, 20))
  const rec = collectProfile(dir, tmpdir(), 100)
  t.same(rec.files.map((f) => [f.pid, f.thread, f.role]), [[100, 0, 'primary'], [100, 3, 'primary worker threads'], [200, 0, 'child processes']])
  t.equal(rec.flame?.total, 6)
  t.same(rec.flame?.children.map((c) => c.name), ['primary', 'primary worker threads'])
  t.match(rec.note, /1 profile file\(s\) unreadable/)
  t.notOk(rec.dir.startsWith('/'), 'recorded relative to the results folder')
})
