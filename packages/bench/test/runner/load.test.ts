import t from 'tap'
import { workDigest } from '@echoplex/handlers'
import { PayloadFactory } from '../../src/load/payload.js'
import { primeWorkCache, workExpect } from '../../src/runner/load.js'

t.test('the work cache is primed on worker threads with the handler\'s digests', async (t) => {
  const rounds = 7
  const count = 40
  t.equal(await primeWorkCache('length', 48, rounds, count), count, 'every payload digested once')
  t.equal(await primeWorkCache('length', 48, rounds, count), 0, 'nothing left to do the second time')
  const f = new PayloadFactory('length', 48, 'echo')
  const expect = workExpect(rounds)
  for (const seq of [0, 1, count - 1]) {
    const payload = Buffer.from(f.payload(seq))
    t.same(Buffer.from(expect(payload)), workDigest(payload, rounds), `payload ${seq}`)
  }
})
