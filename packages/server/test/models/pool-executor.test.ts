/**
 * Which thread a pool task goes to (soonestThread): the one that would finish it soonest, counting
 * the tasks it already holds at their measured cost and a thread hop to wake it where it is idle.
 * Cheap tasks go to the thread already at work; expensive ones spread.
 */
import t from 'tap'
import { HOP_COST_US, TaskCostEstimate, UNMEASURED_TASK_US, soonestThread } from '../../src/models/pool-executor.js'

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

t.test('only an idle thread pays the hop: one still at work takes its next batch with no wake-up', async (t) => {
  const busy = { load: 3, batchForming: false }
  t.equal(soonestThread([busy, idle], 1), 0, '3 tasks of 1 µs still held cost less than waking the idle thread')
  t.equal(soonestThread([idle, busy], 1), 1, 'whichever thread it is')
  t.equal(soonestThread([busy, idle], 10), 1, '30 µs of work held: the idle thread is worth waking')
  t.equal(soonestThread([{ load: 2, batchForming: false }, { load: 2, batchForming: true }], 10), 0, 'two busy threads: the one holding less, ties the first')
  t.equal(soonestThread([idle, { load: 0, batchForming: true }], 10), 1, 'a batch forming for a thread: it wakes anyway')
})

t.test('what a task costs: the median of recent batches, so a preempted batch does not make cheap tasks look expensive', async (t) => {
  const cost = new TaskCostEstimate(UNMEASURED_TASK_US)
  t.equal(cost.us, UNMEASURED_TASK_US, 'nothing measured yet: taken to be expensive')
  for (let i = 0; i < 10; i++) cost.add(6, 6) // batches of 6 tasks of 1 µs
  cost.add(6, 6 * 4000) // a thread preempted for a 4 ms slice in the middle of a batch
  t.equal(cost.us, 1, 'still 1 µs')
  t.equal(soonestThread([{ load: 5, batchForming: true }, { load: 0, batchForming: false }], cost.us), 0, 'so cheap tasks still share one batch')
  // a running mean with the old weight (1/4) would have read ~1000 µs, and spread them
  cost.add(0, 50)
  t.equal(cost.us, 1, 'a report of no task is no sample')
  // the handler became slower: within 5 batches (over half the window) the estimate follows
  for (let i = 0; i < 5; i++) cost.add(2, 4000)
  t.equal(cost.us, 2000, 'now 2 ms a task')
  t.equal(soonestThread([{ load: 1, batchForming: true }, { load: 0, batchForming: false }], cost.us), 1, 'and they spread over the threads')
})
