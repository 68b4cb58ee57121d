import t from 'tap'
import {
  createLatencyHistogram, recordLatencyMs, summarizeLatency, encodeHistogram, decodeHistogram, mergeHistograms,
  ratePerSecond, openLoopSchedule, scheduledCount, correctedLatencyMs, cpuPercentOfOneCore,
} from '../../src/load/latency.js'
import { ReplyVerifier } from '../../src/load/payload.js'

/** HDR histograms keep 3 significant digits: values come back within 0.1%. */
const near = (actual: number, expected: number, rel = 0.001): boolean => Math.abs(actual - expected) <= Math.abs(expected) * rel + 1e-9

t.test('percentiles, mean, stdev, min and max of a known set (ms in, µs recorded, ms out)', async (t) => {
  const h = createLatencyHistogram()
  for (let v = 1; v <= 100; v++) recordLatencyMs(h, v) // 1 ms .. 100 ms
  const s = summarizeLatency(h)
  t.equal(s.count, 100)
  t.ok(near(s.min, 1), `min ${s.min}`)
  t.ok(near(s.max, 100), `max ${s.max}`)
  t.ok(near(s.mean, 50.5), `mean ${s.mean}`)
  // population standard deviation of 1..100
  t.ok(near(s.stdev, Math.sqrt((100 * 100 - 1) / 12), 0.002), `stdev ${s.stdev}`)
  t.ok(near(s.p50, 50), `p50 ${s.p50}`)
  t.ok(near(s.p90, 90), `p90 ${s.p90}`)
  t.ok(near(s.p99, 99), `p99 ${s.p99}`)
  t.ok(near(s.p999, 100), `p99.9 ${s.p999}`)
})

t.test('microsecond resolution and sub-microsecond values', async (t) => {
  const h = createLatencyHistogram()
  recordLatencyMs(h, 0.123) // 123 µs
  recordLatencyMs(h, 0.0001) // below 1 µs: recorded as 1 µs
  recordLatencyMs(h, -5) // clock arithmetic gone wrong: still 1 µs, never a throw
  const s = summarizeLatency(h)
  t.equal(s.count, 3)
  t.equal(s.min, 0.001)
  t.equal(s.max, 0.123)
})

t.test('an empty histogram summarizes to zeros', async (t) => {
  t.same(summarizeLatency(createLatencyHistogram()), { count: 0, min: 0, mean: 0, stdev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 })
})

t.test('merging two histograms (one of them encoded, as from a worker thread)', async (t) => {
  const a = createLatencyHistogram()
  const b = createLatencyHistogram()
  for (let v = 1; v <= 50; v++) recordLatencyMs(a, v)
  for (let v = 51; v <= 100; v++) recordLatencyMs(b, v)
  const encoded = encodeHistogram(b)
  t.type(encoded, 'string')
  t.equal(decodeHistogram(encoded).totalCount, 50)
  const m = summarizeLatency(mergeHistograms([a, encoded]))
  t.equal(m.count, 100)
  t.ok(near(m.p50, 50), `p50 ${m.p50}`)
  t.ok(near(m.p90, 90), `p90 ${m.p90}`)
  t.ok(near(m.min, 1))
  t.ok(near(m.max, 100))
  t.ok(near(m.mean, 50.5))
  // merging must not modify the inputs
  t.equal(a.totalCount, 50)
  t.equal(summarizeLatency(mergeHistograms([])).count, 0)
})

t.test('requests per second over a known window', async (t) => {
  t.equal(ratePerSecond(1500, 3000), 500)
  t.equal(ratePerSecond(1, 0.5), 2000)
  t.equal(ratePerSecond(10, 0), 0)
})

t.test('open-loop schedule: rate split evenly over connections', async (t) => {
  const s = openLoopSchedule(1000, 4) // one request per ms in total, each connection every 4 ms
  t.equal(s.gapMs, 1)
  t.equal(s.intervalMs, 4)
  t.equal(s.at(0, 0), 0)
  t.equal(s.at(1, 0), 1)
  t.equal(s.at(3, 0), 3)
  t.equal(s.at(0, 1), 4)
  t.equal(s.at(3, 2), 11)
  // all connections together: exactly one request every 1/rate s
  const all: number[] = []
  for (let c = 0; c < 4; c++) for (let k = 0; k < 25; k++) all.push(s.at(c, k))
  all.sort((x, y) => x - y)
  t.same(all, Array.from({ length: 100 }, (_, i) => i))
  // requests of connection 1 intended before 10 ms: at 1, 5, 9
  t.equal(scheduledCount(s, 1, 10), 3)
  t.equal(scheduledCount(s, 1, 9), 2)
  t.equal(scheduledCount(s, 3, 3), 0)
  let total = 0
  for (let c = 0; c < 4; c++) total += scheduledCount(s, c, 1000)
  t.equal(total, 1000, 'rate × duration requests in 1 s')
  const odd = openLoopSchedule(300, 7)
  t.ok(near(odd.intervalMs, 7000 / 300, 1e-12))
  t.throws(() => openLoopSchedule(0, 4), RangeError)
  t.throws(() => openLoopSchedule(100, 0), RangeError)
})

t.test('coordinated-omission correction: latency from the intended send time', async (t) => {
  // intended at t=0, actually sent at t=90 ms (the connection was stalled), completed at t=100 ms
  const intended = 0
  const actualSend = 90
  const completed = 100
  t.equal(correctedLatencyMs(intended, completed), 100)
  t.not(correctedLatencyMs(intended, completed), completed - actualSend)
  // the verifier hands back the start it was given (the engine gives it the intended time)
  const v = new ReplyVerifier(2)
  v.push(Buffer.from('ab'), intended)
  const h = createLatencyHistogram()
  t.ok(v.feed(Buffer.from('ab'), (start) => recordLatencyMs(h, correctedLatencyMs(start, completed))))
  t.ok(near(summarizeLatency(h).max, 100), `${summarizeLatency(h).max}`)
})

t.test('CPU percentage of one core', async (t) => {
  t.equal(cpuPercentOfOneCore({ userSec: 0.3, systemSec: 0.2 }, 2), 25)
  t.equal(cpuPercentOfOneCore({ userSec: 3, systemSec: 1 }, 2), 200)
  t.equal(cpuPercentOfOneCore({ userSec: 1, systemSec: 0 }, 0), 0)
})
