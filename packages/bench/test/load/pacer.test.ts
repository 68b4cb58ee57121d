import t from 'tap'
import { ClosedLoopPacer, OpenLoopPacer, type PacedConnection } from '../../src/load/pacer.js'
import { scheduledCount } from '../../src/load/latency.js'
import type { Timeline } from '../../src/load/clock.js'

t.test('closed loop: every request is due now, its latency runs from now, nothing is scheduled', async (t) => {
  const pacer = new ClosedLoopPacer()
  const c: PacedConnection = { index: 3, nextK: 0 }
  t.equal(pacer.timed, false)
  t.equal(pacer.due(c, 0, 1234.5), 1234.5)
  t.equal(pacer.due(c, 7, 99), 99)
  pacer.advance(c, 5)
  t.equal(c.nextK, 0, 'a closed loop keeps no schedule position')
  t.equal(pacer.nextDue(c), Infinity)
  t.same(pacer.tally([c], 10, null), { scheduled: 0, unsent: 0 })
})

t.test('open loop: due at the intended times of the run-wide schedule, offset per connection', async (t) => {
  // 100/s over 4 connections: one request every 10 ms in all, every 40 ms on one connection
  const timeline: Timeline = { startAt: 1000, measureStart: 1000, stopAt: 2000 }
  const pacer = new OpenLoopPacer(100, 4, timeline)
  const c0: PacedConnection = { index: 0, nextK: 0 }
  const c2: PacedConnection = { index: 2, nextK: 0 }
  t.equal(pacer.timed, true)
  t.equal(pacer.due(c0, 0, 1000), 1000)
  t.equal(pacer.due(c0, 1, 1000), null, 'the next one is 40 ms later')
  t.equal(pacer.due(c0, 1, 1040), 1040)
  t.equal(pacer.due(c2, 0, 1019), null)
  t.equal(pacer.due(c2, 0, 1025), 1020, 'a late send keeps its intended time as latency origin')
  pacer.advance(c2, 3)
  t.equal(c2.nextK, 3)
  t.equal(pacer.nextDue(c2), 1000 + 20 + 3 * 40)
})

t.test('open loop tally: scheduled in the measured window, unsent = scheduled but never reached', async (t) => {
  const timeline: Timeline = { startAt: 0, measureStart: 100, stopAt: 1100 }
  const pacer = new OpenLoopPacer(200, 2, timeline) // every 10 ms on each connection, offset 5 ms
  const conns: PacedConnection[] = [{ index: 0, nextK: 0 }, { index: 1, nextK: 0 }]
  // the schedule's own count of what falls in [measureStart, stopAt)
  const sch = { intervalMs: 10, gapMs: 5, at: (i: number, k: number) => i * 5 + k * 10 }
  const inWindow = conns.reduce((n, c) => n + scheduledCount(sch, c.index, 1100) - scheduledCount(sch, c.index, 100), 0)
  t.equal(inWindow, 200)
  t.same(pacer.tally(conns, 0, null), { scheduled: inWindow, unsent: inWindow }, 'nothing sent: all unsent')
  // connection 0 got through its whole schedule, connection 1 stopped halfway through the window
  conns[0]!.nextK = scheduledCount(sch, 0, 1100)
  conns[1]!.nextK = scheduledCount(sch, 1, 600)
  t.same(pacer.tally(conns, 150, null), { scheduled: 200, unsent: 50 })
  t.same(pacer.tally(conns, 30, 40), { scheduled: 40, unsent: 10 }, 'an amount caps what was scheduled')
})
