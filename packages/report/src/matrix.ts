/**
 * The answer first: which model wins where. A matrix of scenario groups (rows: workload, payload,
 * connections, mode) × targets (columns: models, then peers), each cell the target's median req/s
 * and its ratio to the best model of the row. The report colours cells by that ratio.
 */
import type { ReportModel } from './model.js'

export interface MatrixCell {
  /** median req/s over the repetitions; null when nothing was measured or the scenario is not ok */
  value: number | null
  /** value ÷ the best model's value in the row (peers may exceed 1) */
  ratio: number | null
  status: string
  /** the row's best model */
  best: boolean
}

export interface MatrixRow {
  key: string
  label: string
  /** the best model of the row, and how far ahead of the runner-up (winner ÷ runner-up) */
  winner: string | null
  margin: number | null
  /** repetitions the medians are taken over (the most of any cell) */
  repetitions: number
  cells: Record<string, MatrixCell>
}

export interface WinMatrix {
  models: string[]
  peers: string[]
  rows: MatrixRow[]
}

export function winMatrix (model: ReportModel): WinMatrix {
  const models: string[] = []
  const peers: string[] = []
  for (const g of model.groups) {
    for (const r of g.rows) {
      // peers and external servers are the reference columns, after the models
      const list = r.kind === 'model' ? models : peers
      if (!list.includes(r.target)) list.push(r.target)
    }
  }
  const rows = model.groups.map((g): MatrixRow => {
    const ok = g.rows.filter((r) => r.status === 'ok' && (r.throughput?.median ?? 0) > 0)
    const ranked = ok.filter((r) => r.kind === 'model').sort((a, b) => b.throughput!.median - a.throughput!.median)
    const best = ranked[0]?.throughput?.median ?? null
    const cells: Record<string, MatrixCell> = {}
    for (const r of g.rows) {
      const v = r.status === 'ok' ? r.throughput?.median ?? null : null
      cells[r.target] = {
        value: v,
        ratio: v === null || best === null ? null : v / best,
        status: r.status,
        best: ranked[0] === r,
      }
    }
    return {
      key: g.key,
      label: g.label,
      winner: ranked[0]?.target ?? null,
      margin: ranked.length >= 2 ? ranked[0]!.throughput!.median / ranked[1]!.throughput!.median : null,
      repetitions: Math.max(0, ...g.rows.map((r) => r.throughput?.n ?? 0)),
      cells,
    }
  })
  return { models, peers, rows }
}

/**
 * Background colour for a ratio to the row's best: green at 1 (and above, for a peer), through
 * yellow, to red at 0.25 and below.
 */
export function ratioColor (ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return '#f3f4f6'
  const t = Math.max(0, Math.min(1, (ratio - 0.25) / 0.75))
  return `hsl(${Math.round(t * 120)} 70% ${Math.round(88 - 6 * t)}%)`
}
