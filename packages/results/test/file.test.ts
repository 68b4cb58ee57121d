import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readResults, ResultsError, validateResults } from '../src/file.js'

const dir = mkdtempSync(join(tmpdir(), 'echoplex-results-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('results: one-line errors for unreadable, foreign, wrong-version and invalid files', async (t) => {
  const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }
  const fails = (path: string, re: RegExp): void => {
    const e = t.throws(() => readResults(path)) as Error
    t.ok(e instanceof ResultsError, `a ResultsError: ${e.message}`)
    t.equal((e as ResultsError).code, 'EPX_BAD_RESULTS')
    t.equal((e as ResultsError).exitCode, 2, 'a usage error')
    t.match(e.message, re)
    t.notMatch(e.message, /\n/, 'one line')
  }
  fails(join(dir, 'missing.json'), /no such file/)
  fails(file('garbage.json', 'not json'), /not valid JSON/)
  // JSON.parse quotes the text around the error, newlines and all: the whole reason, on one line, with where
  fails(file('multiline.json', '{\n  "schemaVersion": 1,\n  "tool": x\n}\n'), /not valid JSON: Unexpected token 'x', \.\.\."\s+"tool": x \} " is not valid JSON$/)
  fails(file('truncated.json', '{\n  "schemaVersion": 1,\n  "tool": "ech'), /not valid JSON: .* \(line 3 column \d+\)$/)
  fails(file('foreign.json', '{"hello": 1}'), /no schemaVersion/)
  fails(file('v3.json', '{"schemaVersion": 3}'), /schemaVersion 3 is not supported \(this echoplex reads 1 and 2; it writes 2\)/)
  fails(file('v1.json', '{"schemaVersion": 1}'), /invalid results: \(top level\): missing "tool"/)
  fails(file('v2.json', '{"schemaVersion": 2}'), /invalid results: \(top level\): missing "tool"/)
  t.equal(validateResults([]), 'not a results object')
})
