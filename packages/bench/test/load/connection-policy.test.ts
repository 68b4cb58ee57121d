import t from 'tap'
import type net from 'node:net'
import { ChurnConnections, PersistentConnections, type Phase, type PolicyHost } from '../../src/load/connection-policy.js'
import { newSlot, type Slot } from '../../src/load/slot.js'

/** A host that records what a policy asks of it; `due` requests are claimable at each call. */
function recordingHost (due: number): PolicyHost & { calls: string[], phase: Phase } {
  const calls: string[] = []
  return {
    calls,
    phase: 'running',
    timeline: { startAt: 0, measureStart: 0, stopAt: 1000 },
    now: () => 10,
    openSocket: (c, probe) => { calls.push(`open ${c.index}${probe ? ' probe' : ''}`) },
    claim: (_c, max) => { calls.push(`claim ${max}`); return Array.from({ length: Math.min(max, due) }, () => 10) },
    sendBatch: (c, _s, starts) => { calls.push(`batch ${starts.length}`); for (const s of starts) c.verifier.push(Buffer.from('x'), s) },
    sendOne: (c, _s, start) => { calls.push(`one ${start}`); c.verifier.push(Buffer.from('x'), start) },
  }
}

const fakeSocket = (): net.Socket & { destroyed: boolean } => {
  const s = { destroyed: false, destroy () { s.destroyed = true; return s } }
  return s as unknown as net.Socket & { destroyed: boolean }
}

t.test('persistent: probes ahead, opens once, fills the free pipeline slots', async (t) => {
  const host = recordingHost(10)
  const policy = new PersistentConnections(host, 4)
  t.equal(policy.probes, true)
  t.equal(policy.capacity, 4)
  const c: Slot = newSlot(0, policy.capacity)
  policy.resume(c)
  t.same(host.calls, ['open 0'], 'no socket yet: open one')
  c.sock = fakeSocket()
  host.calls.length = 0
  policy.connected(c)
  t.same(host.calls, ['claim 4', 'batch 4'])
  host.calls.length = 0
  policy.poll(c)
  t.same(host.calls, [], 'every slot busy: nothing claimed')
  host.phase = 'draining'
  policy.replied(c)
  t.same(host.calls, [], 'no sends once draining')
})

t.test('churn: one connection per request, closed on its reply, the next one claimed before it connects', async (t) => {
  const host = recordingHost(1)
  const policy = new ChurnConnections(host)
  t.equal(policy.probes, false)
  t.equal(policy.capacity, 1)
  const c: Slot = newSlot(5, policy.capacity)
  policy.resume(c)
  t.same(host.calls, ['claim 1', 'open 5'])
  t.equal(c.pending, true)
  t.equal(policy.connectOrigin(c), 10, 'the connect is measured with its request')
  const s = fakeSocket()
  c.sock = s
  host.calls.length = 0
  policy.connected(c)
  t.same(host.calls, ['one 10'])
  policy.poll(c)
  t.same(host.calls, ['one 10'], 'a slot with a connection starts nothing more')
  c.verifier.clear() // its reply came
  c.sock = s
  host.calls.length = 0
  policy.replied(c, s)
  t.equal(s.destroyed, true)
  t.same(host.calls, ['claim 1', 'open 5'], 'the next transaction starts')
  t.equal(c.pending, true)
})

t.test('churn: nothing due, nothing opened', async (t) => {
  const host = recordingHost(0)
  const policy = new ChurnConnections(host)
  const c = newSlot(0, 1)
  policy.poll(c)
  t.same(host.calls, ['claim 1'])
  t.equal(c.pending, false)
})
