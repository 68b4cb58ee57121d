/**
 * Which thread a pool task goes to (soonestThread): the one that would finish it soonest, counting
 * the tasks it already holds at their measured cost and a thread hop where no batch of it leaves
 * this turn. Cheap tasks ride in the batch already forming; expensive ones spread.
 */
import t from 'tap'
import { HOP_COST_US, UNMEASURED_TASK_US, soonestThread } from '../../src/models/pool-executor.js'

const idle = { load: 0, batchForming: false }

t.test('every thread idle: the first', async (t) => {
  t.equal(soonestThread([idle, idle, idle], 1), 0)
  t.equal(soonestThread([idle], UNMEASURED_TASK_US), 0, 'one thread: always it')
})

t.test('cheap tasks join the batch already forming instead of waking another thread', async (t) => {
  const forming = { load: 5, batchForming: true }
  t.equal(soonestThread([forming, idle], 1), 0, '5 queued tasks of 1 µs cost less than a hop')
  t.equal(soonestThread([idle, forming], 1), 1, 'whichever thread it is')
  // a batch grows until its queued work costs more than a hop to the idle thread
  const full = { load: HOP_COST_US + 1, batchForming: true }
  t.equal(soonestThread([full, idle], 1), 1, 'past a hop\'s worth of queued work, the idle thread takes it')
})

t.test('expensive tasks spread: the least loaded thread, batch or not', async (t) => {
  const one = { load: 1, batchForming: true }
  t.equal(soonestThread([one, idle], 2000), 1, 'a task of 2 ms waits for no other')
  t.equal(soonestThread([{ load: 3, batchForming: true }, { load: 2, batchForming: false }], 2000), 1)
  t.equal(soonestThread([one, idle], UNMEASURED_TASK_US), 1, 'before any cost is measured, tasks are taken to be expensive')
})

t.test('a thread with no batch leaving pays the hop even when it holds as much', async (t) => {
  t.equal(soonestThread([{ load: 2, batchForming: false }, { load: 2, batchForming: true }], 10), 1)
  t.equal(soonestThread([{ load: 2, batchForming: false }, { load: 2, batchForming: true }], 10, 0), 0, 'with no hop cost: a tie, the first')
})
