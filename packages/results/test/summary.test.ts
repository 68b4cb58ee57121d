import t from 'tap'
import { comparePeers } from '../src/summary.js'
import type { ScenarioResult } from '../src/results.js'

t.test('ratios to the fastest peer of the same group', async (t) => {
  const sc = (id: string, group: string, kind: 'model' | 'peer', rps: number | null, status = 'ok'): ScenarioResult => ({
    id, group, target: { kind, name: id, label: id, workers: null, spares: null }, status,
    summary: rps === null ? null : { requestsPerSec: { median: rps } },
  } as unknown as ScenarioResult)
  const list = [sc('m', 'g', 'model', 50), sc('p1', 'g', 'peer', 100), sc('p2', 'g', 'peer', 200), sc('p3', 'g', 'peer', 400, 'failed'), sc('o', 'h', 'model', 10)]
  comparePeers(list)
  t.same(list[0]!.comparison, { peer: 'p2', peerScenario: 'p2', peerRequestsPerSec: 200, ratio: 0.25 })
  t.equal(list[1]!.comparison?.ratio, 0.5)
  t.equal(list[4]!.comparison, null, 'no peer in its group')
})
