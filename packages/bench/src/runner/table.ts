/**
 * The plain-text summary table of a results file (what `echoplex bench` prints at the end).
 */
import type { Results, ScenarioResult } from '@echoplex/results'

const MiB = 1024 * 1024

function fmt (v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-'
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** `echo 64B c16 keep-alive` */
export function scenarioLabel (s: Pick<ScenarioResult, 'workload' | 'payloadBytes' | 'connections' | 'mode'> & { fixedRate?: unknown }): string {
  const size = s.payloadBytes % 1024 === 0 ? `${s.payloadBytes / 1024}KiB` : `${s.payloadBytes}B`
  return `${s.workload.name} ${size} c${s.connections} ${s.mode}${s.fixedRate != null ? ' fixed-rate' : ''}`
}

export interface TableRow {
  scenario: string
  target: string
  reqPerSec: string
  /** requests per second of server CPU (whole tree) */
  reqPerCpuSec: string
  p50: string
  p99: string
  cpuSec: string
  rssMiB: string
  status: string
  vsPeer: string
}

export function tableRows (results: Results): TableRow[] {
  return results.scenarios.map((s) => {
    const m = s.summary
    return {
      scenario: scenarioLabel(s),
      target: `${s.target.kind === 'model' ? s.target.label : `${s.target.label} (${s.target.kind})`}${s.rate == null ? '' : ` @${Math.round(s.rate.requestsPerSec)}/s`}`,
      reqPerSec: fmt(m?.requestsPerSec?.median, 0),
      reqPerCpuSec: fmt(m?.requestsPerCpuSec?.median, 0),
      p50: fmt(m?.latencyP50Ms?.median, 3),
      p99: fmt(m?.latencyP99Ms?.median, 3),
      cpuSec: fmt(m?.serverCpuSec?.median, 2),
      rssMiB: fmt(m?.rssBytes?.median === undefined ? undefined : m.rssBytes.median / MiB, 1),
      status: s.status,
      vsPeer: s.comparison === null ? '-' : `${s.comparison.ratio.toFixed(2)}x ${s.comparison.peer}`,
    }
  })
}

const HEAD: TableRow = { scenario: 'scenario', target: 'target', reqPerSec: 'req/s', reqPerCpuSec: 'req/CPU-s', p50: 'p50 ms', p99: 'p99 ms', cpuSec: 'CPU s', rssMiB: 'RSS MiB', status: 'status', vsPeer: 'vs fastest peer' }
const KEYS = Object.keys(HEAD) as Array<keyof TableRow>
const RIGHT = new Set<keyof TableRow>(['reqPerSec', 'reqPerCpuSec', 'p50', 'p99', 'cpuSec', 'rssMiB'])

export interface TableOptions {
  /** the terminal's width: the table is narrowed to fit (scenario as a heading, then fewer columns), long lines wrapped */
  width?: number
}

/** Columns dropped, in this order, while the table is too wide (the cost and answer columns stay). */
const DROPPABLE: Array<keyof TableRow> = ['p50', 'cpuSec', 'vsPeer', 'reqPerCpuSec']

/** Wraps `text` to `width` columns, continuation lines indented by `indent`. */
function wrap (text: string, width: number | undefined, indent = '  '): string[] {
  if (width === undefined || text.length <= width) return [text]
  const out: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    const next = line === '' ? word : `${line} ${word}`
    if (next.length > width && line !== '') {
      out.push(line)
      line = `${indent}${word}`
    } else {
      line = next
    }
  }
  if (line !== '') out.push(line)
  return out
}

/** The summary table, with a line per failed or skipped scenario saying why; narrowed to `width` when given. */
export function formatSummaryTable (results: Results, options: TableOptions = {}): string {
  const rows = tableRows(results)
  const max = options.width !== undefined && options.width >= 20 ? options.width : undefined
  const widthOf = (keys: Array<keyof TableRow>): Record<keyof TableRow, number> =>
    Object.fromEntries(keys.map((k) => [k, Math.max(HEAD[k].length, ...rows.map((r) => r[k].length))])) as Record<keyof TableRow, number>
  const total = (keys: Array<keyof TableRow>): number => { const w = widthOf(keys); return keys.reduce((n, k) => n + w[k], 0) + 2 * (keys.length - 1) }
  let keys = [...KEYS]
  // too wide: the scenario becomes a heading over its targets, then the least needed columns go
  const grouped = max !== undefined && total(keys) > max
  if (grouped) keys = keys.filter((k) => k !== 'scenario')
  for (const k of DROPPABLE) if (max !== undefined && total(keys) > max) keys = keys.filter((x) => x !== k)
  const width = widthOf(keys)
  const line = (r: TableRow): string => keys.map((k) => RIGHT.has(k) ? r[k].padStart(width[k]) : r[k].padEnd(width[k])).join('  ').trimEnd()
  const out = [line(HEAD), keys.map((k) => '-'.repeat(width[k])).join('  ')]
  let last: string | null = null
  for (const r of rows) {
    if (grouped && r.scenario !== last) out.push(`${r.scenario}:`)
    last = r.scenario
    out.push(line(r))
  }
  const dropped = KEYS.filter((k) => k !== 'scenario' && !keys.includes(k))
  if (dropped.length > 0) out.push(...wrap(`(narrowed to ${max} columns: ${dropped.map((k) => HEAD[k]).join(', ')} left out; all of it is in the results file and the report)`, max))
  const why = results.scenarios.filter((s) => s.reason !== null && s.status !== 'ok')
  if (why.length > 0) {
    out.push('')
    for (const s of why) out.push(...wrap(`${s.status}: ${scenarioLabel(s)} @ ${s.target.label}: ${s.reason}`, max))
  }
  const counts = new Map<string, number>()
  for (const s of results.scenarios) counts.set(s.status, (counts.get(s.status) ?? 0) + 1)
  out.push('')
  out.push(...wrap(`${results.scenarios.length} scenario(s): ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}${results.complete ? '' : ' — INCOMPLETE (interrupted)'}`, max))
  return out.join('\n')
}
