/**
 * The primary's relay over real worker_threads MessageChannels: a child's broadcast reaches every
 * other child that takes broadcasts, never its sender, and none while its `listening` says no.
 */
import t from 'tap'
import { MessageChannel } from 'node:worker_threads'
import { errors } from '@echoplex/core'
import { portChannel } from '../../src/ipc/channel.js'
import { Peer } from '../../src/ipc/peer.js'
import { PrimaryHub, type ChildPeer } from '../../src/ipc/primary-hub.js'
import type { PrimaryPeer } from '../../src/ipc/child-hub.js'

interface FakeChild { primarySide: ChildPeer, childSide: PrimaryPeer, got: string[], close: () => void }

function child (): FakeChild {
  const { port1, port2 } = new MessageChannel()
  const primarySide: ChildPeer = new Peer(portChannel(port1), { failure: errors.SHARED_FAILED })
  const childSide: PrimaryPeer = new Peer(portChannel(port2), { failure: errors.SHARED_FAILED })
  const got: string[] = []
  childSide.on('broadcast', (m) => { got.push(Buffer.from(m.data).toString()) })
  return { primarySide, childSide, got, close: () => { port1.close() } }
}

const say = (c: FakeChild, text: string): void => { c.childSide.send({ type: 'broadcast', from: 'x', data: Buffer.from(text) }) }
const settle = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 50)) }

t.test('a broadcast goes to the other children that take broadcasts, now', async (t) => {
  const hub = new PrimaryHub()
  const [a, b, spare] = [child(), child(), child()]
  t.teardown(() => { for (const c of [a, b, spare]) c.close() })
  let spareServing = false
  hub.add(a.primarySide)
  hub.add(b.primarySide, () => true)
  hub.add(spare.primarySide, () => spareServing)
  say(a, 'one')
  await settle()
  t.same(b.got, ['one'], 'a listening child gets it')
  t.same(spare.got, [], 'a child without connections does not')
  t.same(a.got, [], 'nor does the sender')
  spareServing = true
  say(b, 'two')
  await settle()
  t.same(spare.got, ['two'], 'once it serves, it does')
  t.same(a.got, ['two'])
  hub.remove(spare.primarySide)
  say(a, 'three')
  await settle()
  t.same(spare.got, ['two'], 'a removed child gets nothing more')
  t.same(b.got, ['one', 'three'])
  t.equal(hub.dropped, 0)
})
