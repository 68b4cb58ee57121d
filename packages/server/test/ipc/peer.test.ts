/**
 * The request/response helper over a real worker_threads MessageChannel: replies are matched by id,
 * and every failure (an error answer, no answer in time, the channel closing) is the coded `failure`.
 */
import t from 'tap'
import { MessageChannel } from 'node:worker_threads'
import { errors } from '@echoplex/core'
import { portChannel } from '../../src/ipc/channel.js'
import { Peer, type Message } from '../../src/ipc/peer.js'

type Ask = { type: 'double', id: number, n: number } | { type: 'boom', id: number } | { type: 'never', id: number } | { type: 'note', text: string }

function pair (): { a: Peer<Message, Ask>, b: Peer<Ask, Message>, close: () => void } {
  const { port1, port2 } = new MessageChannel()
  const a = new Peer<Message, Ask>(portChannel(port1), { failure: errors.SHARED_FAILED, closedWhy: 'other side is gone' })
  const b = new Peer<Ask, Message>(portChannel(port2), { failure: errors.SHARED_FAILED })
  return { a, b, close: () => { port1.close() } }
}

t.test('replies are matched to their requests by id, sync or async answers alike', async (t) => {
  const { a, b, close } = pair()
  t.teardown(close)
  b.answer('double', async (m) => {
    await new Promise((resolve) => setTimeout(resolve, m.n === 1 ? 30 : 0)) // the first answers last
    return m.n * 2
  })
  const answers = await Promise.all([1, 2, 3].map(async (n) => await a.request<number>({ type: 'double', n })))
  t.same(answers, [2, 4, 6])
})

t.test('one-way messages reach their listeners by type', async (t) => {
  const { a, b, close } = pair()
  t.teardown(close)
  const got = new Promise<string>((resolve) => b.on('note', (m) => resolve(m.text)))
  t.equal(a.send({ type: 'note', text: 'hi' }), true)
  t.equal(await got, 'hi')
})

t.test('every failure is the coded failure', async (t) => {
  const { a, b, close } = pair()
  b.answer('boom', () => { throw new Error('it broke') })
  await t.rejects(a.request({ type: 'boom' }), { code: errors.SHARED_FAILED.code, message: /it broke/ }, 'an error answer')
  await t.rejects(a.request({ type: 'never' }, { timeoutMs: 50 }), { code: errors.SHARED_FAILED.code, message: /no reply within 50 ms/ }, 'no answer in time')
  await t.rejects(a.request({ type: 'double', n: 1, fn: () => {} } as never), { code: errors.SHARED_FAILED.code }, 'a message that cannot be sent')
  const pending = a.request({ type: 'never' })
  close()
  await t.rejects(pending, { code: errors.SHARED_FAILED.code, message: /other side is gone/ }, 'the channel closed while waiting')
  await t.rejects(a.request({ type: 'double', n: 1 }), { code: errors.SHARED_FAILED.code }, 'the channel was already closed')
})
