import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '../helpers/server.js'
import { modelNames } from '@echoplex/server'

/** One fault or hostile input tried against one model, and what it cost. */
export interface FaultCase {
  name: string
  kind: 'hostile client' | 'fault' | 'shutdown'
  /** How many bad inputs / injected faults this case tried. */
  injected: number
  /** The server kept serving the steady client correctly (or, for shutdown cases, did what it must). */
  survived: boolean
  /** Bytes the steady client sent and never got back, or got back wrong. Must be 0. */
  bytesLost: number
  /** Steady messages exchanged while the case ran: the load held. */
  loadHeld: number
  detail: string
}

export interface ModelLedger {
  model: string
  node: string
  date: string
  cases: FaultCase[]
  zombies: number
  orphans: number
}

export const LEDGER_DIR = join(REPO_ROOT, 'docs', 'reliability')

/** Collects a model's cases while its suite runs; written (with the summary page) when the suite ends. */
export class Ledger {
  readonly cases: FaultCase[] = []
  zombies = 0
  orphans = 0
  constructor (readonly model: string) {}

  add (c: FaultCase): void { this.cases.push(c) }

  write (): void {
    mkdirSync(LEDGER_DIR, { recursive: true })
    const ledger: ModelLedger = { model: this.model, node: process.version, date: new Date().toISOString().slice(0, 10), cases: this.cases, zombies: this.zombies, orphans: this.orphans }
    // one file per model and Node line: CI's Node 24 pass (.ci/node24) adds its own (cluster serves with
    // SO_REUSEPORT there) instead of overwriting what the full suite measured on the machine's Node
    writeFileSync(join(LEDGER_DIR, ledgerFile(this.model, process.version)), JSON.stringify(ledger, null, 2) + '\n')
    writeFileSync(join(REPO_ROOT, 'docs', 'RELIABILITY.md'), renderReliability(readLedgers()))
  }
}

/** `cluster@node24.json`: a model's ledger on one Node line (its major version) */
export const ledgerFile = (model: string, node: string): string => `${model}@node${nodeMajor(node)}.json`
const nodeMajor = (node: string): number => Number(/^v?(\d+)/.exec(node)?.[1] ?? 0)

/** registered models in registry order, anything else after them */
const rank = (order: string[], model: string): number => order.includes(model) ? order.indexOf(model) : order.length

export function readLedgers (): ModelLedger[] {
  const order = modelNames()
  return readdirSync(LEDGER_DIR).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(LEDGER_DIR, f), 'utf8')) as ModelLedger)
    .sort((a, b) => rank(order, a.model) - rank(order, b.model) || nodeMajor(a.node) - nodeMajor(b.node))
}

export function renderReliability (ledgers: ModelLedger[]): string {
  const lines = [
    '# Reliability',
    '',
    'Produced by the fault suite (`pnpm run test:faults`, files in `packages/server/test/faults/`); do not edit by hand.',
    'Every case runs against a real server with a steady client exchanging numbered messages throughout;',
    '"bytes lost" counts what that client sent and did not get back exactly, in order.',
    'A section per model and Node line: the full suite runs on the machine\'s Node, and CI\'s Node 24 pass',
    '(`.ci/node24`) runs cluster\'s again, where cluster serves with SO_REUSEPORT by default (`--sched reuseport`).',
    '',
  ]
  for (const l of ledgers) {
    const t = l.cases.reduce((a, c) => ({ load: a.load + c.loadHeld, injected: a.injected + (c.kind === 'fault' ? c.injected : 0), bad: a.bad + (c.kind === 'hostile client' ? c.injected : 0), lost: a.lost + c.bytesLost }), { load: 0, injected: 0, bad: 0, lost: 0 })
    lines.push(`## ${l.model} · Node ${nodeMajor(l.node)}`, '', `Run ${l.date} on Node ${l.node}. Load held: ${t.load} steady messages; faults injected: ${t.injected}; bad inputs tried: ${t.bad}; bytes lost: **${t.lost}**; zombies left: **${l.zombies}**; orphans left: **${l.orphans}**.`, '')
    lines.push('| case | kind | tried | survived | bytes lost | load held | what happened |', '|---|---|---:|:---:|---:|---:|---|')
    for (const c of l.cases) lines.push(`| ${c.name} | ${c.kind} | ${c.injected} | ${c.survived ? 'yes' : '**no**'} | ${c.bytesLost} | ${c.loadHeld} | ${c.detail.replace(/\|/g, '\\|')} |`)
    lines.push('')
  }
  return lines.join('\n')
}
