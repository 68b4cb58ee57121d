/** Test helpers: a dashboard over a temporary results folder seeded with the committed fixture. */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { buildDashboard } from '../../src/server.js'

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))
export const SUITES_DIR = join(FIXTURES, 'suites')
/** The committed results of `echoplex bench --suite test/fixtures/suites/tiny.json` (event-loop and node-net, 1 s). */
export const FIXTURE_NAME = readdirSync(join(FIXTURES, 'results')).find((f) => f.endsWith('.json'))!
export const FIXTURE_PATH = join(FIXTURES, 'results', FIXTURE_NAME)
export const fixtureResults = (): { scenarios: Array<{ target: { label: string }, summary: { requestsPerSec: { median: number } } }> } =>
  JSON.parse(readFileSync(FIXTURE_PATH, 'utf8'))

export interface TestDashboard {
  app: FastifyInstance
  dir: string
}

/** A dashboard (not listening) on a fresh results folder holding the fixture; closed and removed in teardown. */
export async function dashboard (t: { teardown (fn: () => unknown): void }, seed = true): Promise<TestDashboard> {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-dashboard-'))
  if (seed) copyFileSync(FIXTURE_PATH, join(dir, FIXTURE_NAME))
  const app = await buildDashboard({ resultsDir: dir, suitesDir: SUITES_DIR, logLevel: 'silent' })
  t.teardown(async () => {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { app, dir }
}

export interface SseEvent { id: string | null, event: string, data: any }

/** Parses a text/event-stream body. */
export function parseSse (text: string): SseEvent[] {
  const out: SseEvent[] = []
  for (const block of text.split('\n\n')) {
    let id: string | null = null
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) id = line.slice(4)
      else if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ')) data.push(line.slice(6))
    }
    if (data.length > 0) out.push({ id, event, data: JSON.parse(data.join('\n')) })
  }
  return out
}

/** Live pids whose parent is `ppid` and whose command line matches. */
export function childrenOf (ppid: number, match: RegExp): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) !== ppid || fields[0] === 'Z') continue
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (match.test(cmd)) out.push(Number(entry))
    } catch { /* gone */ }
  }
  return out
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export { rmSync }
