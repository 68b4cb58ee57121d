import t from 'tap'
import { ProxyAllowList, parseCidr, DEFAULT_PROXY_ALLOW_FROM } from '../../src/proxy/allow-list.js'

t.test('the default trusts loopback only, IPv4-mapped peers included', async (t) => {
  const list = new ProxyAllowList()
  t.same(list.cidrs, DEFAULT_PROXY_ALLOW_FROM)
  for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) t.ok(list.allows(a), a)
  for (const a of ['10.0.0.1', '::2', '::ffff:10.0.0.1', 'not-an-ip']) t.notOk(list.allows(a), a)
  t.ok(list.allows(undefined), 'a UNIX-socket peer')
})

t.test('CIDR blocks and bare addresses', async (t) => {
  const list = new ProxyAllowList(['10.203.7.0/24', '2001:db8::/32', '192.0.2.9'])
  t.same(list.cidrs, ['10.203.7.0/24', '2001:db8::/32', '192.0.2.9/32'])
  t.ok(list.allows('10.203.7.254'))
  t.notOk(list.allows('10.203.8.1'))
  t.ok(list.allows('2001:db8:1::5'))
  t.ok(list.allows('192.0.2.9'))
  t.notOk(list.allows('192.0.2.10'))
  t.notOk(list.allows('127.0.0.1'), 'loopback is not added to a list the user gave')
})

t.test('bad blocks are one-line option errors', async (t) => {
  for (const bad of ['10.0.0.0/33', '::/129', 'example.com', '10.0.0.0/8/1', '10.0.0.0/x', '']) {
    t.throws(() => parseCidr(bad), { code: 'EPX_BAD_OPTION', message: /--proxy-allow-from/ }, bad)
  }
})
