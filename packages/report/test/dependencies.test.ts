/** Loading @echoplex/report pulls in results and core only: never bench's load generators. */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const REPORT_DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url))
const RECORDER = fileURLToPath(new URL('./fixtures/record-imports.mjs', import.meta.url))

t.test('importing report loads no bench, autocannon, cli-progress or hdr-histogram', async (t) => {
  t.ok(existsSync(REPORT_DIST), 'report is built (pnpm run build)')
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-report-deps-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const record = join(dir, 'imports.txt')
  execFileSync(process.execPath, ['--import', pathToFileURL(RECORDER).href, '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(REPORT_DIST).href)})`], {
    env: { PATH: process.env.PATH, RECORD_IMPORTS: record },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30_000,
  })
  const loaded = readFileSync(record, 'utf8').split('\n').filter((l) => l !== '')
  t.ok(loaded.some((u) => u.includes('/packages/results/dist/')), 'the recorder saw @echoplex/results load')
  t.ok(loaded.some((u) => u.includes('/packages/core/dist/')), 'and @echoplex/core (the error catalogue)')
  for (const unwanted of ['/packages/bench/', '/autocannon/', '/cli-progress/', '/hdr-histogram-js/']) {
    t.same(loaded.filter((u) => u.includes(unwanted)), [], `nothing from ${unwanted}`)
  }
})
