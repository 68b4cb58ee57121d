import t from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { startServer } from '../helpers/server.js'
import { MODELS, ask, escapeRegExp, eventually, lineOf, outsideDir, writeFile } from './outside.js'

const HANDLER = `import { defineHandler } from '@echoplex/core'
import { BUILTIN_HANDLERS } from '@echoplex/handlers'

export default defineHandler({
  name: 'outside-mjs',
  framing: 'line',
  onMessage (line, ctx) {
    const text = line.toString()
    if (text === 'boom') throw new Error('kaboom from an mjs handler')
    return \`mjs \${ctx.model} \${BUILTIN_HANDLERS.includes('echo')} \${text.toUpperCase()}\\n\`
  },
})
`

for (const model of MODELS) {
  t.test(`an .mjs handler outside the repository, served by ${model}`, async (t) => {
    const dir = outsideDir(t)
    const path = writeFile(dir, 'outside.mjs', HANDLER)
    const server = await startServer(t, ['--model', model, '--workers', '2', '--handler', path], { timeoutMs: 60_000 })
    t.equal(await ask(server.port, 'hello'), `mjs ${model} true HELLO\n`, 'answers through @echoplex/core and @echoplex/handlers')
    t.equal(await ask(server.port, 'boom'), '', 'a throwing handler closes its connection')
    const log = await eventually(server.stderr, /handler failed; closing its connection/)
    const entry = JSON.parse(log.split('\n').find((l) => l.includes('handler failed'))!) as { err: string, stack?: string }
    t.equal(entry.err, 'kaboom from an mjs handler')
    t.match(entry.stack, new RegExp(`${escapeRegExp(path)}:${lineOf(HANDLER, 'kaboom')}:\\d+`), 'the stack names the file and line')
  })
}

t.test('@echoplex/core resolves to the running echoplex even where another copy is installed', async (t) => {
  const dir = outsideDir(t)
  // a stand-in package whose defineHandler breaks every handler: used only if the redirect failed
  const fake = join(dir, 'node_modules', '@echoplex', 'core')
  mkdirSync(fake, { recursive: true })
  writeFile(fake, 'package.json', JSON.stringify({ name: '@echoplex/core', type: 'module', exports: './index.js' }))
  writeFile(fake, 'index.js', 'export const defineHandler = () => ({ fake: true })\n')
  const path = writeFile(dir, 'outside.mjs', HANDLER)
  const server = await startServer(t, ['--model', 'event-loop', '--handler', path])
  t.equal(await ask(server.port, 'hi'), 'mjs event-loop true HI\n')
})
