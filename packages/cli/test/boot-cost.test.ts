import t from 'tap'
import { runCli } from '../../server/test/helpers/server.js'

t.test('echoplex boot-cost --json: the boots measured in one run (the child from its snapshot, and from its entry), their ratios, and a boot rate per round', async (t) => {
  const { code, stdout, stderr } = await runCli(['boot-cost', '--runs', '4', '--concurrency', '2', '--duration', '500ms', '--rounds', '2', '--json'], 90_000)
  t.equal(code, 0, stderr)
  const { cost, rate, rounds } = JSON.parse(stdout) as { cost: Record<string, any>, rate: Record<string, number>, rounds: Array<{ rate: Record<string, number> }> }
  t.ok(cost.bareCpuMs > 0 && cost.childCpuMs > 0, `node -e 0 ${cost.bareCpuMs} ms, fork child ${cost.childCpuMs} ms of CPU`)
  t.ok(Math.abs(cost.ratio - cost.childCpuMs / cost.bareCpuMs) < 0.02, 'ratio = child ÷ bare')
  // the build made the bundle, so the model's children boot from a snapshot: both boots are measured
  t.equal(cost.childBoot, 'snapshot', cost.snapshotNote ?? '')
  t.ok(cost.entryCpuMs > 0, `from its entry: ${cost.entryCpuMs} ms`)
  t.ok(Math.abs(cost.entryRatio - cost.entryCpuMs / cost.bareCpuMs) < 0.02, 'entry ratio = entry ÷ bare')
  t.equal(cost.runs, 4)
  // this run's environment decides: with NODE_EXTRA_CA_CERTS set, a bare boot without it is measured too
  if (process.env.NODE_EXTRA_CA_CERTS === undefined || process.env.NODE_EXTRA_CA_CERTS === '') t.equal(cost.extraCaCerts, null)
  else t.ok(cost.extraCaCerts.path === process.env.NODE_EXTRA_CA_CERTS && cost.extraCaCerts.bareCpuMs > 0, `node -e 0 without NODE_EXTRA_CA_CERTS: ${cost.extraCaCerts.bareCpuMs} ms`)
  t.equal(rounds.length, 2, 'a boot rate per round')
  for (const r of rounds) t.ok(r.rate.boots! > 0 && r.rate.perSec! > 0, `${r.rate.perSec} boots/s`)
  t.same(rate, rounds[0]!.rate, 'rate: the first round\'s')
  t.equal(rate.concurrency, 2)
})

t.test('echoplex boot-cost: bad input is one line', async (t) => {
  const { code, stderr } = await runCli(['boot-cost', '--runs', '1'])
  t.not(code, 0)
  t.equal(stderr.trim().split('\n').length, 1, stderr.trim())
})
