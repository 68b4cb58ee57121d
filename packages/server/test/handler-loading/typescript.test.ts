import t from 'tap'
import { nativeTypeScript } from '../../src/handler-loading/typescript.js'
import { startServer } from '../helpers/server.js'
import { MODELS, ask, escapeRegExp, eventually, lineOf, outsideDir, writeFile } from './outside.js'

// Types that only TypeScript accepts (an interface, annotations, `type` imports), so the file runs
// only if the types are stripped; two echoplex packages imported from a directory that has neither.
const HANDLER = `import { defineHandler, type ConnectionContext } from '@echoplex/core'
import { BUILTIN_HANDLERS } from '@echoplex/handlers'

interface Tag { language: string }
const tag: Tag = { language: 'ts' }

export default defineHandler({
  name: 'outside-ts',
  framing: 'line',
  onMessage (line: Buffer, ctx: ConnectionContext): string {
    const text: string = line.toString()
    if (text === 'boom') throw new Error('kaboom from a ts handler')
    return \`\${tag.language} \${ctx.model} \${BUILTIN_HANDLERS.includes('echo')} \${text.toUpperCase()}\\n\`
  },
})
`

t.comment(`Node ${process.version}: TypeScript handlers run by ${nativeTypeScript() ? "Node's type stripping" : 'tsx'}`)

for (const model of MODELS) {
  t.test(`a .ts handler outside the repository, served by ${model}`, async (t) => {
    const dir = outsideDir(t)
    const path = writeFile(dir, 'outside.ts', HANDLER)
    const server = await startServer(t, ['--model', model, '--workers', '2', '--handler', path], { timeoutMs: 60_000 })
    t.equal(await ask(server.port, 'hello'), `ts ${model} true HELLO\n`, 'answers through @echoplex/core and @echoplex/handlers')

    t.equal(await ask(server.port, 'boom'), '', 'a throwing handler closes its connection')
    const where = new RegExp(`${escapeRegExp(path)}:${lineOf(HANDLER, 'kaboom')}:\\d+`)
    const log = await eventually(server.stderr, /"msg":"handler failed; closing its connection"/)
    const line = log.split('\n').find((l) => l.includes('handler failed'))!
    const entry = JSON.parse(line) as { err: string, stack?: string }
    t.equal(entry.err, 'kaboom from a ts handler')
    t.match(entry.stack, where, 'the stack names the .ts file and its line (source-mapped where compiled)')
    t.equal(await ask(server.port, 'again'), `ts ${model} true AGAIN\n`, 'the server serves on')
  })
}
