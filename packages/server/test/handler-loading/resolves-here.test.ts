import t from 'tap'
import { resolveHandlerPath } from '../../src/handler-loader.js'
import { resolvesHere } from '../../src/handler-loading/own-packages.js'
import { fixture } from '../helpers/server.js'
import { outsideDir, writeFile } from './outside.js'

// the resolve hook is registered only where it is needed: a hooks thread is boot time the fork model pays per connection
t.test('built-ins and handlers inside the install need no resolve hook', async (t) => {
  for (const builtin of ['echo', 'chat', 'work']) t.ok(resolvesHere(resolveHandlerPath(builtin)), builtin)
  t.ok(resolvesHere(fixture('faulty.mjs')), 'a handler under packages/server')
})

t.test('a handler outside the install needs it', async (t) => {
  t.notOk(resolvesHere(writeFile(outsideDir(t), 'h.mjs', 'export default {}\n')))
})
