import t from 'tap'
import { childForkOptions, parentDeathSignal } from '@echoplex/server/ipc/spawner.js'

t.test('childForkOptions: a child\'s own Node options (its snapshot) follow the primary\'s, inside setpriv where it is used; its descriptors from fd 4', async (t) => {
  const o = childForkOptions({ A: '1' }, { inherit: [7, 9], execArgv: ['--snapshot-blob', '/x.blob'] })
  const death = parentDeathSignal()
  const expected = [...process.execArgv, '--snapshot-blob', '/x.blob']
  if (death === undefined) {
    t.same(o.execArgv, expected)
    t.equal(o.execPath, undefined)
  } else {
    t.equal(o.execPath, death.execPath)
    t.same(o.execArgv, [...death.execArgv, ...expected], 'setpriv … -- node <options>')
  }
  t.same(o.stdio, ['ignore', 'ignore', 'inherit', 'ipc', 7, 9])
  t.equal(o.env?.A, '1')
  t.same(childForkOptions({}).stdio, ['ignore', 'ignore', 'inherit', 'ipc'], 'nothing more by default')
})
