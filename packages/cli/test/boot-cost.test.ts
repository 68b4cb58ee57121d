import t from 'tap'
import { runCli } from '../../server/test/helpers/server.js'

t.test('echoplex boot-cost --json: both boots measured in one run, and their ratio', async (t) => {
  const { code, stdout, stderr } = await runCli(['boot-cost', '--runs', '4', '--concurrency', '2', '--duration', '500ms', '--json'], 60_000)
  t.equal(code, 0, stderr)
  const { cost, rate } = JSON.parse(stdout) as { cost: Record<string, number>, rate: Record<string, number> }
  t.ok(cost.bareCpuMs! > 0 && cost.childCpuMs! > 0, `node -e 0 ${cost.bareCpuMs} ms, fork child ${cost.childCpuMs} ms of CPU`)
  t.ok(Math.abs(cost.ratio! - cost.childCpuMs! / cost.bareCpuMs!) < 0.02, 'ratio = child ÷ bare')
  t.equal(cost.runs, 4)
  t.ok(rate.boots! > 0 && rate.perSec! > 0, `${rate.perSec} boots/s`)
  t.equal(rate.concurrency, 2)
})

t.test('echoplex boot-cost: bad input is one line', async (t) => {
  const { code, stderr } = await runCli(['boot-cost', '--runs', '1'])
  t.not(code, 0)
  t.equal(stderr.trim().split('\n').length, 1, stderr.trim())
})
