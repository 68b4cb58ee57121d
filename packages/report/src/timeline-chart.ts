/**
 * Timelines in the report: per second since the load started, every target's throughput, p99, server
 * CPU and tree RSS, one small chart each (a line per target), the warmup shaded — so warm-up, GC
 * pauses and respawns show instead of being averaged away. SVG strings, deterministic like charts.ts.
 * The connect phase before the load (negative seconds: e.g. fork spawning its children) is drawn
 * where the sampler saw it.
 */
import type { Repetition, Timeline, TimelinePoint } from '@echoplex/results'
import { PALETTE, niceTicks } from './charts.js'
import { escapeHtml as esc, formatBytes, formatCpuPct, formatMs, formatRate } from './format.js'
import type { ReportGroup } from './model.js'

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
const r1 = (v: number): string => (Math.round(v * 10) / 10).toString()

/** The timeline of the repetition with the median throughput (the first one on ties), or null. */
export function medianTimeline (reps: readonly Repetition[]): Timeline | null {
  const withTl = reps.filter((r) => r.timeline != null && r.load !== null)
  if (withTl.length === 0) return null
  const sorted = [...withTl].sort((a, b) => (a.load!.throughput.requestsPerSec - b.load!.throughput.requestsPerSec) || a.repetition - b.repetition)
  return sorted[Math.floor((sorted.length - 1) / 2)]!.timeline ?? null
}

export interface TimeSeries {
  label: string
  color: string
  peer?: boolean
  /** [seconds, value] */
  points: Array<[number, number]>
}

export interface TimeChartOptions {
  title: string
  yLabel: string
  format: (v: number) => string
  series: TimeSeries[]
  /** the warmup, seconds from 0 (shaded) */
  warmupSec?: number
  width?: number
  height?: number
  /** the x range in seconds (charts of one group share it); default: the data's, from 0 or earlier */
  xRange?: [number, number]
}

/** A small line chart over seconds (linear axes, y from 0), one line per series. */
export function timeChart (o: TimeChartOptions): string {
  const width = o.width ?? 340
  const height = o.height ?? 190
  const left = 62
  const right = 10
  const top = 26
  const bottom = 34
  const plotW = width - left - right
  const plotH = height - top - bottom
  const all = o.series.flatMap((s) => s.points)
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart time-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(o.title)}" ${FONT} font-size="11">`)
  parts.push(`<title>${esc(o.title)}</title>`)
  parts.push(`<text x="${left}" y="15" font-size="12" font-weight="600" fill="#111">${esc(o.title)}</text>`)
  if (all.length === 0) {
    parts.push(`<text x="${r1(left + plotW / 2)}" y="${r1(top + plotH / 2)}" text-anchor="middle" fill="#6b7280">not recorded</text></svg>`)
    return parts.join('')
  }
  const t0 = o.xRange?.[0] ?? Math.min(0, ...all.map((p) => p[0]))
  const t1 = o.xRange?.[1] ?? Math.max(t0 + 1, ...all.map((p) => p[0] + 1))
  const yMax = Math.max(...all.map((p) => p[1]))
  const yTicks = niceTicks(0, yMax > 0 ? yMax : 1, 4)
  const yTop = Math.max(yTicks[yTicks.length - 1]!, yMax > 0 ? yMax : 1)
  const x = (t: number): number => left + (t - t0) / (t1 - t0) * plotW
  const y = (v: number): number => top + plotH - v / yTop * plotH
  if (o.warmupSec !== undefined && o.warmupSec > 0) {
    parts.push(`<rect x="${r1(x(0))}" y="${top}" width="${r1(x(Math.min(o.warmupSec, t1)) - x(0))}" height="${plotH}" fill="#f3f4f6"><title>warmup (not measured)</title></rect>`)
  }
  for (const v of yTicks) {
    parts.push(`<line x1="${left}" y1="${r1(y(v))}" x2="${left + plotW}" y2="${r1(y(v))}" stroke="#e5e7eb"/>`)
    parts.push(`<text x="${left - 4}" y="${r1(y(v) + 4)}" text-anchor="end" fill="#374151">${esc(o.format(v))}</text>`)
  }
  for (const t of niceTicks(t0, t1, 5)) {
    parts.push(`<text x="${r1(x(t))}" y="${top + plotH + 14}" text-anchor="middle" fill="#374151">${esc(String(t))}</text>`)
  }
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#6b7280"/>`)
  parts.push(`<text x="${r1(left + plotW / 2)}" y="${height - 4}" text-anchor="middle" fill="#111">seconds since the load started (${esc(o.yLabel)})</text>`)
  for (const s of o.series) {
    if (s.points.length === 0) continue
    // each interval's value drawn at its middle
    const d = s.points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${r1(x(t + 0.5))} ${r1(y(v))}`).join('')
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.peer === true ? ' stroke-dasharray="4 2"' : ''}><title>${esc(s.label)}</title></path>`)
  }
  parts.push('</svg>')
  return parts.join('')
}

type Metric = { key: keyof TimelinePoint, title: string, yLabel: string, format: (v: number) => string }

const METRICS: Metric[] = [
  { key: 'requestsPerSec', title: 'Throughput', yLabel: 'req/s', format: formatRate },
  { key: 'p99Ms', title: 'p99 latency', yLabel: 'ms', format: formatMs },
  { key: 'cpuPercent', title: 'Server CPU (whole tree)', yLabel: '% of one core', format: formatCpuPct },
  { key: 'rssBytes', title: 'Server RSS (whole tree)', yLabel: 'bytes', format: formatBytes },
]

/** The timeline charts of a group (one per metric, a line per target), or null when no target recorded one. */
export function timelineCharts (g: ReportGroup): string | null {
  const rows = g.rows.map((r, i) => ({ r, color: PALETTE[i % PALETTE.length]! })).filter(({ r }) => r.timeline !== null)
  if (rows.length === 0) return null
  const warmupSec = (rows[0]!.r.timeline!.warmupMs) / 1000
  // one x range for the group's charts, so that the connect phase lines up across them
  const ts = rows.flatMap(({ r }) => r.timeline!.points.map((p) => p.t / 1000))
  const xRange: [number, number] = [Math.min(0, ...ts), Math.max(1, ...ts.map((t) => t + 1))]
  const charts = METRICS.map((m) => timeChart({
    xRange,
    title: m.title,
    yLabel: m.yLabel,
    format: m.format,
    warmupSec,
    series: rows.map(({ r, color }) => ({
      label: r.target,
      color,
      peer: r.kind === 'peer',
      points: r.timeline!.points
        .filter((p) => typeof p[m.key] === 'number' && Number.isFinite(p[m.key] as number))
        .map((p): [number, number] => [p.t / 1000, p[m.key] as number]),
    })),
  }))
  const legend = rows.map(({ r, color }) => `<span style="color:${color}">■</span> ${esc(r.target)}${r.kind === 'peer' ? ' (peer)' : ''}`).join(' &nbsp; ')
  return `<div class="timelines"><p class="meta">Timelines (the median repetition of each target; shaded: warmup, not measured): ${legend}</p><div class="charts">${charts.join('\n')}</div></div>`
}
