import t from 'tap'
import { RespawnBackoff, StallDetector } from '../../src/ipc/supervision.js'

t.test('a late tick is a stall of this process: silence counts again from it', async (t) => {
  const start = Date.now()
  const stall = new StallDetector(500)
  t.equal(stall.tick(start + 500), false, 'on time')
  t.equal(stall.tick(start + 1100), false, 'a little late is not a stall')
  t.equal(stall.tick(start + 21_100), true, '20 s late: the process was stopped')
  t.equal(stall.resumedAt, start + 21_100)
  t.equal(stall.stalls, 1)
  t.equal(stall.tick(start + 21_600), false, 'back on time')
})

t.test('runtime deaths are replaced at once, then with a doubling delay, capped', async (t) => {
  const backoff = new RespawnBackoff(3, 10_000, 100, 2000)
  const now = 1_000_000
  t.same([0, 1, 2].map((i) => backoff.next(now + i)), [0, 0, 0], 'the first three at once')
  t.same([3, 4, 5, 6, 7, 8].map((i) => backoff.next(now + i)), [100, 200, 400, 800, 1600, 2000], 'then doubling up to the cap')
  t.equal(backoff.next(now + 20_000), 0, 'deaths older than the window are forgotten')
})
