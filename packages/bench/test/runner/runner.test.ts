import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { normalizeSuite, type SuiteSpec } from '../../src/runner/suite.js'
import { runSuite, type ProgressEvent } from '../../src/runner/run.js'
import { readResults, validateResults, type Results } from '@echoplex/results'
import { groupMembers } from '../../src/runner/server.js'
import { formatSummaryTable } from '../../src/runner/table.js'

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

const tiny = (spec: Partial<SuiteSpec>): SuiteSpec => ({
  name: 'tiny',
  repetitions: 1,
  durationMs: 1000,
  warmupMs: 200,
  idleSettleMs: 100,
  connections: [8],
  payloadBytes: [64],
  workloads: [{ handler: 'echo' }],
  ...spec,
})

/** Nothing the run started is alive: no process in any server's group, no server pid. */
async function assertNothingLeft (t: typeof import('tap').default, results: Results): Promise<void> {
  const pgids = new Set<number>()
  const pids = new Set<number>()
  for (const s of results.scenarios) {
    for (const r of s.repetitions) {
      if (r.server.pgid !== null) pgids.add(r.server.pgid)
      if (r.server.pid !== null) pids.add(r.server.pid)
    }
  }
  for (const pgid of pgids) t.same(await groupMembers(pgid), [], `nothing left in process group ${pgid}`)
  for (const pid of pids) {
    let state = 'gone'
    try { state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').slice(0, 1) } catch { /* gone */ }
    t.ok(state === 'gone' || state === 'Z' || state === 'X', `server ${pid} is gone (${state})`)
  }
}

const dir = mkdtempSync(join(tmpdir(), 'echoplex-runner-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('every model and a peer, end to end: a valid results file with every target', async (t) => {
  const suite = normalizeSuite(tiny({
    models: ['event-loop', { model: 'cluster', workers: 2 }, 'fork'],
    peers: ['node-net'],
  }))
  const out = join(dir, 'main.json')
  const events: ProgressEvent[] = []
  const results = await runSuite(suite, { outPath: out, onProgress: (e) => events.push(e) })
  t.ok(existsSync(out), 'results written')
  const read = readResults(out)
  t.equal(validateResults(read), null, 'the file validates')
  t.equal(read.schemaVersion, 2)
  t.equal(read.complete, true)
  t.equal(read.interrupted, null)
  t.ok(read.environment.cores > 0 && read.environment.node === process.version, 'environment recorded')
  t.same(read.scenarios.map((s) => s.target.label), ['event-loop', 'cluster', 'fork', 'node-net'], 'every requested target')
  for (const s of read.scenarios) {
    t.equal(s.status, 'ok', `${s.id}: ok (${s.reason ?? ''})`)
    t.equal(s.repetitions.length, 1)
    const rep = s.repetitions[0]!
    t.ok(rep.load !== null && rep.load.requests.completed > 0, `${s.id}: requests completed`)
    t.equal(rep.load?.mismatches, 0)
    t.ok((s.summary?.requestsPerSec?.median ?? 0) > 0, `${s.id}: median req/s`)
    t.ok(rep.window !== null && rep.window.cpuSec > 0, `${s.id}: server CPU in the window`)
    t.ok(rep.idle !== null && rep.idle.rssBytes > 0, `${s.id}: idle baseline`)
    t.equal(rep.server.stop?.leftover.length, 0, `${s.id}: stopped cleanly`)
    t.ok(s.comparison !== null && s.comparison.peer === 'node-net', `${s.id}: ratio to the peer`)
    t.ok(rep.derived !== null && rep.derived.requestsPerCpuSec !== null, `${s.id}: requests per CPU second`)
  }
  const byLabel = Object.fromEntries(read.scenarios.map((s) => [s.target.label, s]))
  t.equal(byLabel.cluster!.target.workers, 2)
  t.equal(byLabel.cluster!.repetitions[0]!.window!.processes.max, 3, 'cluster: primary + 2 workers')
  t.ok(byLabel.fork!.repetitions[0]!.window!.processes.max > 1, 'fork: a child per connection')
  t.ok(byLabel.fork!.repetitions[0]!.derived!.connectToFirstByteMs !== null, 'fork: spawn wait recorded')
  t.equal(events.filter((e) => e.type === 'run-end').length, 4, 'progress for every run')
  t.match(formatSummaryTable(results), /event-loop[\s\S]*node-net \(peer\)/)
  await assertNothingLeft(t, results)
})

t.test('integrity: a corrupting handler fails its scenario; a server that cannot start is recorded and the run goes on', async (t) => {
  const suite = normalizeSuite(tiny({
    models: ['event-loop'],
    peers: false,
    workloads: [
      { name: 'broken', handler: fixture('broken-load.mjs'), framing: 'raw' },
      { name: 'corrupt', handler: fixture('corrupt-echo.mjs'), framing: 'raw' },
    ],
  }))
  const out = join(dir, 'faults.json')
  const results = await runSuite(suite, { outPath: out })
  const read = readResults(out)
  t.equal(read.complete, true, 'the run went on to the end')
  const [broken, corrupt] = read.scenarios
  t.equal(broken?.status, 'failed')
  t.match(broken?.reason, /server failed to start: exited \(\d+\) before listening: .*this handler cannot load/)
  t.equal(broken?.repetitions[0]?.load, null, 'no load against a server that never listened')
  t.equal(corrupt?.status, 'failed', 'mismatches fail the scenario')
  t.ok((corrupt?.repetitions[0]?.load?.mismatches ?? 0) > 0, `mismatches counted (${corrupt?.repetitions[0]?.load?.mismatches})`)
  t.match(corrupt?.reason, /mismatched repl/)
  t.ok(corrupt?.summary !== null, 'a failed scenario still shows its numbers')
  await assertNothingLeft(t, results)
})

t.test('an interrupted run stops its server and writes partial results', async (t) => {
  const suite = normalizeSuite(tiny({ models: ['event-loop', { model: 'cluster', workers: 2 }], peers: false }))
  const out = join(dir, 'interrupted.json')
  const controller = new AbortController()
  const results = await runSuite(suite, {
    outPath: out,
    signal: controller.signal,
    onProgress: (e) => {
      if (e.type === 'run-start' && e.index === 1) setTimeout(() => controller.abort('SIGINT'), 700)
    },
  })
  const read = readResults(out)
  t.equal(read.complete, false)
  t.equal(read.interrupted, 'SIGINT')
  t.equal(read.scenarios[0]?.status, 'ok')
  t.equal(read.scenarios[1]?.status, 'interrupted')
  await assertNothingLeft(t, results)
})
