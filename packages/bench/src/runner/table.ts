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
      target: `${s.target.kind === 'peer' ? `${s.target.label} (peer)` : s.target.label}${s.rate == null ? '' : ` @${Math.round(s.rate.requestsPerSec)}/s`}`,
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

/** The summary table, with a line per failed or skipped scenario saying why. */
export function formatSummaryTable (results: Results): string {
  const rows = tableRows(results)
  const width = Object.fromEntries(KEYS.map((k) => [k, Math.max(HEAD[k].length, ...rows.map((r) => r[k].length))])) as Record<keyof TableRow, number>
  const line = (r: TableRow): string => KEYS.map((k) => RIGHT.has(k) ? r[k].padStart(width[k]) : r[k].padEnd(width[k])).join('  ').trimEnd()
  const out = [line(HEAD), KEYS.map((k) => '-'.repeat(width[k])).join('  '), ...rows.map(line)]
  const why = results.scenarios.filter((s) => s.reason !== null && s.status !== 'ok')
  if (why.length > 0) {
    out.push('')
    for (const s of why) out.push(`${s.status}: ${scenarioLabel(s)} @ ${s.target.label}: ${s.reason}`)
  }
  const counts = new Map<string, number>()
  for (const s of results.scenarios) counts.set(s.status, (counts.get(s.status) ?? 0) + 1)
  out.push('')
  out.push(`${results.scenarios.length} scenario(s): ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}${results.complete ? '' : ' — INCOMPLETE (interrupted)'}`)
  return out.join('\n')
}
