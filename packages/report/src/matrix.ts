/**
 * The answer first: which model wins where. A matrix of scenario groups (rows: workload, payload,
 * connections, mode) × targets (columns: models, then peers), each cell the target's median req/s
 * and its ratio to the best model of the row. The report colours cells by that ratio.
 *
 * A fixed-rate row is the exception: every target there serves the same req/s by construction, so it
 * ranks by median p99 instead (lowest wins), each cell its p99 and the ratio best p99 ÷ its own (so
 * 1.00× is still the winner, and less is worse, coloured alike).
 */
import { spread, type Spread } from '@echoplex/results'
import { formatMs, formatRate } from './format.js'
import type { ReportModel, RoundFigures } from './model.js'
import { MIN_REPETITIONS } from './stats.js'

/** Rounds two targets must share before their per-round ratios are shown: as many repetitions as compare's test asks of each side. */
export const MIN_PAIRED_ROUNDS = MIN_REPETITIONS

/**
 * `of`'s figure ÷ `best`'s in each round both measured (a fixed-rate row: best's p99 ÷ of's), spread
 * over those rounds; null with fewer than MIN_PAIRED_ROUNDS.
 */
export function pairedRatios (of: readonly RoundFigures[], best: readonly RoundFigures[], metric: 'throughput' | 'p99'): Spread | null {
  const figure = (x: RoundFigures | undefined): number | null | undefined => metric === 'throughput' ? x?.throughput : x?.p99
  const ratios: number[] = []
  for (const a of of) {
    const mine = figure(a)
    const theirs = figure(best.find((x) => x.round === a.round))
    if (mine == null || theirs == null || mine <= 0 || theirs <= 0) continue
    ratios.push(metric === 'throughput' ? mine / theirs : theirs / mine)
  }
  return ratios.length >= MIN_PAIRED_ROUNDS ? spread(ratios) : null
}

/** Whether any cell of the matrix has a range over rounds (the legend then says what it is). */
export function hasRoundRanges (m: WinMatrix): boolean {
  return m.rows.some((r) => Object.values(r.cells).some((c) => c.roundRatio !== null))
}

export interface MatrixCell {
  /** median req/s (a fixed-rate row: median p99, ms) over the repetitions; null when nothing was measured or the scenario is not ok */
  value: number | null
  /** value ÷ the best model's value in the row (a fixed-rate row: best ÷ value); peers may exceed 1 */
  ratio: number | null
  /**
   * The same ratio taken in each round both ran in (paired: within a round the two ran close together,
   * so a drift of the machine over the run hits both), spread over the rounds; null for the best model
   * itself and with fewer than MIN_PAIRED_ROUNDS rounds in common
   */
  roundRatio: Spread | null
  status: string
  /** the row's best model */
  best: boolean
}

export interface MatrixRow {
  key: string
  label: string
  /** what the cells hold: req/s (higher wins), or, in a fixed-rate row, p99 in ms (lower wins) */
  metric: 'throughput' | 'p99'
  /** the best model of the row, and how far ahead of the runner-up (winner ÷ runner-up; p99: runner-up ÷ winner) */
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
    const metric = g.fixedRate === null ? 'throughput' : 'p99'
    // higher req/s wins; at a fixed rate, lower p99 does
    const valueOf = (r: (typeof g.rows)[number]): number | null => r.status !== 'ok' ? null : (metric === 'throughput' ? r.throughput?.median : r.latency.p99?.median) ?? null
    const better = (a: number, b: number): number => metric === 'throughput' ? a / b : b / a
    const ranked = g.rows
      .filter((r) => r.kind === 'model' && (valueOf(r) ?? 0) > 0)
      .sort((a, b) => better(valueOf(b)!, valueOf(a)!) - 1)
    const best = ranked.length === 0 ? null : valueOf(ranked[0]!)
    const bestRow = ranked[0]
    const cells: Record<string, MatrixCell> = {}
    for (const r of g.rows) {
      const v = valueOf(r)
      cells[r.target] = {
        value: v,
        ratio: v === null || best === null || v <= 0 ? null : better(v, best),
        roundRatio: v === null || bestRow === undefined || bestRow === r ? null : pairedRatios(r.byRound, bestRow.byRound, metric),
        status: r.status,
        best: bestRow === r,
      }
    }
    return {
      key: g.key,
      label: g.label,
      metric,
      winner: ranked[0]?.target ?? null,
      margin: ranked.length >= 2 ? better(valueOf(ranked[0]!)!, valueOf(ranked[1]!)!) : null,
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

/** A cell's value as the row's metric reads: `12,345` (req/s) or `4.12 ms p99`. */
export function matrixValue (row: Pick<MatrixRow, 'metric'>, value: number): string {
  return row.metric === 'p99' ? `${formatMs(value)} ms p99` : formatRate(value)
}
