import t from 'tap'
import { newCounters } from '@echoplex/core'
import { NO_RECYCLING, Recycler } from '../../src/ipc/recycler.js'

t.test('a request limit is drawn once per child: maxRequests plus 0…jitter', async (t) => {
  const limits = Array.from({ length: 200 }, () => new Recycler({ maxRequests: 100, maxRequestsJitter: 10, maxMemoryBytes: 0 }, newCounters).requestLimit)
  t.ok(limits.every((l) => l >= 100 && l <= 110), 'within [100, 110]')
  t.ok(new Set(limits).size > 1, 'not all the same: children do not recycle together')
  t.equal(new Recycler({ maxRequests: 100, maxRequestsJitter: 0, maxMemoryBytes: 0 }, newCounters).requestLimit, 100)
  t.equal(new Recycler(NO_RECYCLING, newCounters).requestLimit, 0, 'no limit')
  t.notOk(new Recycler(NO_RECYCLING, newCounters).active)
})

t.test('over(): requests handled, then resident memory', async (t) => {
  const counters = newCounters()
  let rss = 10
  const r = new Recycler({ maxRequests: 5, maxRequestsJitter: 0, maxMemoryBytes: 100 }, () => counters, () => rss)
  t.equal(r.over(), undefined)
  counters.messages = 5
  t.equal(r.over(), 'requests')
  counters.messages = 0
  rss = 100
  t.equal(r.over(), 'memory')
})

t.test('watch() calls back once, the first time a limit is passed', async (t) => {
  const counters = newCounters()
  const r = new Recycler({ maxRequests: 3, maxRequestsJitter: 0, maxMemoryBytes: 0 }, () => counters)
  const reasons: string[] = []
  const timer = r.watch((reason) => reasons.push(reason), 10)
  t.teardown(() => clearInterval(timer))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(reasons, [], 'nothing while under')
  counters.messages = 3
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.same(reasons, ['requests'], 'once')
  t.equal(new Recycler(NO_RECYCLING, () => counters).watch(() => {}), undefined, 'no timer without a limit')
})
