import t from 'tap'
import { runCli } from '../helpers/server.js'
import { escapeRegExp, lineOf, outsideDir, writeFile } from './outside.js'

const SYNTAX_ERROR = `import { defineHandler } from '@echoplex/core'

export default defineHandler({
  name: 'broken', framing: 'raw',
  onMessage (m) { return 1 +* 2 }
})
`

const THROWS_WHILE_LOADING = `import { defineHandler } from '@echoplex/core'

const settings: Record<string, number> = JSON.parse('{}')
const rounds: number = settings.rounds.valueOf()
export default defineHandler({ name: 'never', framing: 'raw', onMessage (m: Buffer) { return m } })
`

/** `serve` refuses with one line naming the file and line. */
async function expectLocated (t: typeof import('tap').default, path: string, line: number, why: RegExp): Promise<void> {
  const { code, stderr } = await runCli(['serve', '--port', '0', '--handler', path], 30_000)
  t.not(code, 0, 'non-zero exit')
  t.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr.trim()}`)
  t.match(stderr, why)
  t.match(stderr, new RegExp(`\\(at ${escapeRegExp(path)}:${line}\\b`), 'names file:line')
}

t.test('a syntax error in a .mjs handler names file:line', async (t) => {
  const path = writeFile(outsideDir(t), 'broken.mjs', SYNTAX_ERROR)
  await expectLocated(t, path, lineOf(SYNTAX_ERROR, '+*'), /failed to load: Unexpected token '\*'/)
})

t.test('a syntax error in a .ts handler names file:line', async (t) => {
  const path = writeFile(outsideDir(t), 'broken.ts', SYNTAX_ERROR.replace('(m)', '(m: Buffer)'))
  await expectLocated(t, path, lineOf(SYNTAX_ERROR, '+*'), /failed to load: /)
})

t.test('an error thrown while a .ts handler loads names its .ts line', async (t) => {
  const path = writeFile(outsideDir(t), 'throws.ts', THROWS_WHILE_LOADING)
  await expectLocated(t, path, lineOf(THROWS_WHILE_LOADING, 'valueOf'), /failed to load: Cannot read properties of undefined/)
})
