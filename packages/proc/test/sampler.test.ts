import t from 'tap'
import { readFileSync } from 'node:fs'
import { startSampler, procSysConf, parseStat } from '../src/index.js'
import { spawnGroup, firstLine, sleep } from './fixtures/helpers.js'

t.test('sampler over ~1 s of a CPU-busy child', async (t) => {
  const child = spawnGroup(t, process.execPath, ['-e', 'const end = Date.now() + 5000; while (Date.now() < end) {}'], { stdio: 'ignore' })
  const sampler = startSampler(child.pid as number, { intervalMs: 250 })
  await sleep(1100)
  const s = await sampler.stop()
  t.ok(s.samples >= 3, `samples ${s.samples}`)
  t.ok(s.cpu.totalSec > 0.3, `cpu ${s.cpu.totalSec.toFixed(3)} s`)
  t.ok(Math.abs(s.cpu.userSec + s.cpu.systemSec - s.cpu.totalSec) < 1e-9)
  t.ok(s.cpu.meanPercent > 25, `mean cpu ${s.cpu.meanPercent.toFixed(1)}%`)
  t.ok(s.cpu.maxPercent >= s.cpu.meanPercent * 0.5)
  t.equal(s.rootPid, child.pid)
  t.equal(s.rootExited, false)
  t.equal(s.processes.max, 1)
  t.equal(s.processes.seen, 1)
  t.equal(s.processes.exited, 0)
  t.ok(s.threads.max >= 1)
  t.ok(s.rssBytes.max > 0 && s.rssBytes.mean > 0)
  t.ok(s.pssBytes === null || s.pssBytes.max > 0)
  t.ok(s.durationMs >= 800 && s.durationMs < 5000, `duration ${s.durationMs}`)
  t.ok(s.ctxSwitches.voluntary >= 0 && s.ctxSwitches.involuntary >= 0)
  t.equal(s.zombies.max, 0)
  t.equal(s.connections, null)
  t.equal(s.series.length, s.samples)
  for (const p of s.series) t.has(p, { processes: 1 })
  t.ok(s.series.every((p, i) => i === 0 || p.t >= (s.series[i - 1]?.t ?? 0)), 'series in time order')
  t.same(JSON.parse(JSON.stringify(s)), s, 'JSON-serialisable')
  t.equal(sampler.samples, s.samples)
  t.same(await sampler.stop(), s, 'stop is idempotent')
})

t.test('sampler recovers CPU of children that exit between samples', async (t) => {
  // a shell runs 5 short CPU-bound children one after another, then idles; with a 700 ms
  // interval most of each child's life falls between samples
  const busy = `${JSON.stringify(process.execPath)} -e "let x=0; for (let i=0;i<5e7;i++) x+=i%7; if (x<0) console.log(x)"`
  const script = `sleep 0.3; for i in 1 2 3 4 5; do ${busy}; done; echo done; exec sleep 30`
  const child = spawnGroup(t, 'sh', ['-c', script])
  const pid = child.pid as number
  const sampler = startSampler(pid, { intervalMs: 700, pss: false })
  t.equal(await firstLine(child, 60000), 'done')
  const s = await sampler.stop()
  const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  t.ok(stat, 'shell still there')
  const { clockTicks } = procSysConf()
  // ground truth: everything the reaped children used (the shell itself uses next to nothing)
  const truth = ((stat?.cutime ?? 0) + (stat?.cstime ?? 0) + (stat?.utime ?? 0) + (stat?.stime ?? 0)) / clockTicks
  t.ok(truth > 0.3, `children used ${truth.toFixed(2)} s`)
  t.ok(Math.abs(s.cpu.totalSec - truth) <= 0.05 + 0.1 * truth, `sampler ${s.cpu.totalSec.toFixed(2)} s vs truth ${truth.toFixed(2)} s`)
  t.ok(s.cpu.fromExitedSec > 0, `recovered from exited: ${s.cpu.fromExitedSec.toFixed(2)} s`)
  t.ok(s.processes.seen >= 1)
  t.equal(s.rootExited, false)
})

t.test('sampler notices the root exiting and stops by itself', async (t) => {
  const child = spawnGroup(t, 'sleep', ['0.4'], { stdio: 'ignore' })
  const sampler = startSampler(child.pid as number, { intervalMs: 100 })
  await new Promise((resolve) => child.once('exit', resolve))
  await sleep(300)
  const n = sampler.samples
  await sleep(300)
  t.equal(sampler.samples, n, 'no more samples after the root is gone')
  const s = await sampler.stop()
  t.equal(s.rootExited, true)
  t.ok(s.samples >= 2, `samples ${s.samples}`)
  t.equal(s.processes.exited, s.processes.seen)
})

t.test('series is bounded', async (t) => {
  const child = spawnGroup(t, 'sleep', ['5'], { stdio: 'ignore' })
  const seen: number[] = []
  const sampler = startSampler(child.pid as number, { intervalMs: 10, maxSeriesPoints: 16, pss: false, onSample: (p) => seen.push(p.processes) })
  await sleep(600)
  const s = await sampler.stop()
  t.ok(s.samples > 16, `samples ${s.samples}`)
  t.ok(s.series.length <= 16, `series ${s.series.length}`)
  t.equal(seen.length, s.samples, 'onSample called per sample')
})
