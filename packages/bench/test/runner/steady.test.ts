/**
 * Warm-up until steady (runner/steady.ts) against real servers whose speed changes with time: one
 * that is slow for its first seconds settles, and the measurement after it sees the warm server; one
 * that never settles is given up on when the time allowed runs out, and says so.
 */
import t from 'tap'
import type net from 'node:net'
import { serve } from '../load/fixtures/serve.js'
import { expandSuite, normalizeSuite, type SuiteSpec } from '../../src/runner/suite.js'
import { isSteady, warmUntilSteady } from '../../src/runner/steady.js'
import { runSuite, type ProgressEvent } from '../../src/runner/run.js'
import { validateResults, type ScenarioConfig } from '@echoplex/results'

const spec = (steadyWarmupMs: number): SuiteSpec => ({
  name: 'steady',
  repetitions: 1,
  durationMs: 1000,
  warmupMs: 0,
  steadyWarmupMs,
  idleSettleMs: 100,
  connections: [8],
  payloadBytes: [64],
  models: ['event-loop'],
  peers: false,
  workloads: [{ handler: 'echo' }],
})

const scenario = (steadyWarmupMs: number): ScenarioConfig => expandSuite(normalizeSuite(spec(steadyWarmupMs)))[0]!

/** An echo server that holds each reply `delayMs(now)` ms: its rate is set by the clock. */
function pacedEcho (delayMs: (sinceStart: number) => number): (s: net.Socket) => void {
  let start = NaN
  return (s) => {
    if (Number.isNaN(start)) start = performance.now()
    s.on('data', (chunk: Buffer) => { setTimeout(() => { if (!s.destroyed) s.write(chunk) }, delayMs(performance.now() - start)) })
    s.on('error', () => {})
  }
}

t.test('isSteady: the last three within 10% of their mean, and no more than 5% above the three before', async (t) => {
  t.notOk(isSteady([]), 'no steps')
  t.notOk(isSteady([100, 100, 100, 100, 100]), 'five steps are not enough')
  t.ok(isSteady([100, 100, 100, 100, 100, 100]), 'six that agree')
  t.notOk(isSteady([10, 100, 104, 96, 101, 99]), 'a slow start still weighs on the three before the last')
  t.ok(isSteady([10, 100, 104, 96, 101, 99, 100]), 'a slow start, then six that agree')
  t.notOk(isSteady([100, 100, 100, 80, 90, 100]), 'still rising: a spread of 20%')
  // fork-reuse's churn, measured: three that agreed on a plateau of a rise that went on
  t.notOk(isSteady([1037, 1202, 1504, 1483, 1572]), 'too few steps to see the trend')
  t.notOk(isSteady([1034, 1390, 1480, 1710, 1490, 1495]), 'the last three agree, but are 20% above the three before')
  t.ok(isSteady([1867, 1929, 2053, 2011, 1972, 2050]), 'once the rise is over')
  t.notOk(isSteady([0, 0, 0, 0, 0, 0]), 'nothing served is not steady')
  t.equal(scenario(5000).workload.steadyWarmupMs, 5000, 'a suite\'s steadyWarmupMs reaches its scenarios')
  t.equal(scenario(0).workload.steadyWarmupMs, 0)
})

t.test('a server slow for its first 2.5 s: the warm-up waits for it', async (t) => {
  // replies held 40 ms, then 4 ms: long enough that a loaded machine's timer jitter does not move the rate
  const port = await serve(t, pacedEcho((ms) => ms < 2500 ? 40 : 4))
  const w = await warmUntilSteady(scenario(30_000), { host: '127.0.0.1', port }, 1)
  t.ok(w.steady, `settled: ${w.steps.join(', ')} req/s`)
  t.ok(w.steps.length >= 7, `${w.steps.length} steps: the slow ones, then six that agree`)
  t.ok(w.steps[0]! < w.steps.at(-1)! / 2, `the first step (${w.steps[0]}) ran at under half the last (${w.steps.at(-1)})`)
  t.ok(w.ms < 30_000 + 2000, `within the time allowed (${w.ms} ms)`)
})

t.test('a server that never settles: the warm-up stops at its limit and says so', async (t) => {
  // fast for a second, slow for a second, and so on
  const port = await serve(t, pacedEcho((ms) => Math.floor(ms / 1000) % 2 === 0 ? 1 : 10))
  const w = await warmUntilSteady(scenario(4000), { host: '127.0.0.1', port }, 1)
  t.notOk(w.steady, `not steady: ${w.steps.join(', ')} req/s`)
  t.ok(w.steps.length >= 2 && w.steps.length <= 4, `${w.steps.length} steps of 1 s in 4 s`)
  t.ok(w.ms < 4000 + 2000, `stopped at its limit (${w.ms} ms)`)
})

t.test('a suite with steadyWarmupMs: each repetition records its warm-up; the file validates', async (t) => {
  const events: ProgressEvent[] = []
  const results = await runSuite(normalizeSuite(spec(8000)), { onProgress: (e) => events.push(e) })
  t.equal(validateResults(results), null, 'the results validate')
  const rep = results.scenarios[0]!.repetitions[0]!
  t.equal(rep.status, 'ok')
  t.ok(rep.steadyWarmup != null && rep.steadyWarmup.steps.length >= 1, `warm-up recorded: ${JSON.stringify(rep.steadyWarmup)}`)
  t.ok(rep.steadyWarmup!.steps.every((n) => n > 0), 'every step served requests')
  // the measured window and timeline are of the measurement only: they start after the warm-up
  t.ok(Date.parse(rep.load!.startedAt) - Date.parse(rep.startedAt) >= rep.steadyWarmup!.ms, 'measured after the warm-up')
})

t.test('a fixed-rate scenario warms until steady too, closed-loop, before its fixed-rate window', async (t) => {
  const suite = normalizeSuite({ ...spec(6000), workloads: [{ handler: 'echo', fixedRate: 0.1 }] })
  const results = await runSuite(suite)
  t.equal(validateResults(results), null, 'the results validate')
  const fixed = results.scenarios.find((s) => s.fixedRate != null)
  t.ok(fixed !== undefined, 'a fixed-rate scenario ran')
  const rep = fixed!.repetitions[0]!
  t.equal(rep.status, 'ok')
  const w = rep.steadyWarmup
  t.ok(w != null && w.steps.length >= 1, `warm-up recorded: ${JSON.stringify(w)}`)
  // closed-loop steps, not paced ones: a warm-up at the fixed rate would hold every step at that rate
  // or under; closed loop runs well above it (the rate is a tenth of the closed-loop median). A tenth,
  // not a half: under a neighbouring test file's load, warm-up steps have run at 0.57 of the median
  // measured a moment before (13.9k against 24.2k) and the first steps of a cold server lower still
  const rate = fixed!.rate!.requestsPerSec
  t.ok(Math.max(...w!.steps) > rate * 1.25, `steps ${w!.steps.join(', ')} req/s: one well above the fixed rate ${rate}`)
  t.ok(Date.parse(rep.load!.startedAt) - Date.parse(rep.startedAt) >= w!.ms, 'measured after the warm-up')
})
