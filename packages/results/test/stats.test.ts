import t from 'tap'
import { spread, quantile } from '../src/stats.js'

t.test('spread across repetitions', async (t) => {
  t.equal(spread([]), null)
  t.equal(spread([null, undefined, NaN]), null)
  const one = spread([5])!
  t.same([one.n, one.median, one.min, one.max, one.stdev, one.cv, one.iqr], [1, 5, 5, 5, 0, 0, 0])
  const s = spread([10, 30, 20, 40])!
  t.equal(s.median, 25)
  t.equal(s.mean, 25)
  t.equal(s.q1, 17.5)
  t.equal(s.q3, 32.5)
  t.equal(s.iqr, 15)
  t.equal(s.stdev, Math.round(Math.sqrt(500 / 3) * 1e6) / 1e6)
  t.equal(s.cv, Math.round(Math.sqrt(500 / 3) / 25 * 1e6) / 1e6)
  t.same(s.values, [10, 30, 20, 40], 'values kept in repetition order')
  t.equal(quantile([1, 2, 3], 0.5), 2)
})
