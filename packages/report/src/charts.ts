/**
 * SVG charts, generated as strings (no library, no script, nothing fetched): horizontal bars with
 * whiskers for a metric across repetitions (throughput, memory per connection), and lines for latency
 * percentiles per target on a logarithmic axis. Output is deterministic: the same model gives the same
 * bytes (coordinates rounded, colours by the target's position in its group, no random ids).
 */
import { escapeHtml, formatBytes, formatMs, formatRate } from './format.js'
import type { ReportGroup, TargetRow } from './model.js'

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f']
const FAILED = '#d62728'
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'

const r1 = (v: number): string => (Math.round(v * 10) / 10).toString()
const esc = escapeHtml

export interface BarDatum {
  label: string
  /** the bar (median); null: nothing measured */
  value: number | null
  /** whisker ends (min and max over repetitions) */
  lo?: number | null
  hi?: number | null
  /** each repetition's value, drawn as dots */
  points?: number[]
  peer?: boolean
  /** what a non-model target is (peer, external), shown after its name */
  tag?: string
  /** marked as failed (red outline, label) */
  failed?: boolean
  color?: string
}

export interface BarChartOptions {
  title: string
  /** axis title, with the unit: `requests per second` */
  axisLabel: string
  data: BarDatum[]
  format: (v: number) => string
  /** a note under the axis (e.g. what the whiskers are) */
  caption?: string
  /** ticks at round multiples of a binary unit (bytes: 1024^k) instead of decimal ones */
  binaryTicks?: boolean
  /** how tick values are written (default: `format`), e.g. numbers in the axis title's unit */
  tickFormat?: (v: number) => string
  width?: number
}

/**
 * Charts are drawn this wide (px) and scaled to their box by CSS (`width: 100%`): two side by side
 * fill the report's page width.
 */
export const CHART_WIDTH = 660

/** 1, 2, 2.5, 5 × 10^k steps for about `count` ticks over [lo, hi]. */
export function niceTicks (lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step + 0)
  return out
}

/** Horizontal bars, one per target, with min–max whiskers and a dot per repetition. */
export function barChart (o: BarChartOptions): string {
  const width = o.width ?? CHART_WIDTH
  const rowH = 30
  const longest = Math.max(0, ...o.data.map((d) => d.label.length + (d.peer === true ? 7 : 0)))
  const left = Math.min(360, Math.max(110, Math.ceil(longest * 6.6) + 16))
  const right = 110
  const top = 34
  const plotW = width - left - right
  const plotH = Math.max(1, o.data.length) * rowH
  const height = top + plotH + 58 + (o.caption === undefined ? 0 : 16)
  const vals = o.data.flatMap((d) => [d.value, d.lo, d.hi, ...(d.points ?? [])]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  const min = Math.min(0, ...vals)
  const max0 = Math.max(0, ...vals)
  const span = Math.max(Math.abs(min), Math.abs(max0))
  const unit = o.binaryTicks === true ? 1024 ** Math.max(0, Math.floor(Math.log(Math.max(1, span)) / Math.log(1024))) : 1
  const ticks = niceTicks(min / unit, (max0 > min ? max0 : min + 1) / unit).map((t) => t * unit)
  const lo = Math.min(min, ticks[0]!)
  const hi = Math.max(max0, ticks.at(-1)!, lo + 1e-9)
  const x = (v: number): number => left + (v - lo) / (hi - lo) * plotW
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(o.title)}" ${FONT} font-size="12">`)
  parts.push(`<title>${esc(o.title)}</title>`)
  parts.push(`<text x="${left}" y="18" font-size="14" font-weight="600" fill="#111">${esc(o.title)}</text>`)
  // grid and ticks
  for (const t of ticks) {
    const tx = r1(x(t))
    parts.push(`<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + plotH}" stroke="#e5e7eb"/>`)
    parts.push(`<text x="${tx}" y="${top + plotH + 16}" text-anchor="middle" fill="#374151">${esc((o.tickFormat ?? o.format)(t))}</text>`)
  }
  parts.push(`<line x1="${r1(x(0))}" y1="${top}" x2="${r1(x(0))}" y2="${top + plotH}" stroke="#6b7280"/>`)
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#6b7280"/>`)
  o.data.forEach((d, i) => {
    const cy = top + i * rowH + rowH / 2
    const color = d.color ?? PALETTE[i % PALETTE.length]!
    parts.push(`<text x="${left - 8}" y="${r1(cy + 4)}" text-anchor="end" fill="#111"${d.peer === true ? ' font-style="italic"' : ''}>${esc(d.label)}${d.tag !== undefined ? ` (${d.tag})` : ''}</text>`)
    if (d.value === null || !Number.isFinite(d.value)) {
      parts.push(`<text x="${left + 6}" y="${r1(cy + 4)}" fill="${d.failed === true ? FAILED : '#6b7280'}">${d.failed === true ? 'FAILED — nothing measured' : 'not measured'}</text>`)
      return
    }
    const x0 = x(Math.min(0, d.value))
    const x1 = x(Math.max(0, d.value))
    const stroke = d.failed === true ? ` stroke="${FAILED}" stroke-width="2" stroke-dasharray="4 2"` : ''
    parts.push(`<rect x="${r1(x0)}" y="${r1(cy - 9)}" width="${r1(Math.max(0.5, x1 - x0))}" height="18" fill="${color}" fill-opacity="${d.peer === true ? 0.45 : 0.85}"${stroke}><title>${esc(`${d.label}: ${o.format(d.value)}`)}</title></rect>`)
    if (typeof d.lo === 'number' && typeof d.hi === 'number' && d.hi > d.lo) {
      const a = r1(x(d.lo))
      const b = r1(x(d.hi))
      parts.push(`<path d="M${a} ${r1(cy)}H${b}M${a} ${r1(cy - 6)}V${r1(cy + 6)}M${b} ${r1(cy - 6)}V${r1(cy + 6)}" stroke="#111" stroke-width="1.5" fill="none"/>`)
    }
    for (const p of d.points ?? []) parts.push(`<circle cx="${r1(x(p))}" cy="${r1(cy)}" r="2.5" fill="#fff" stroke="#111"/>`)
    const labelX = Math.max(x1, typeof d.hi === 'number' ? x(d.hi) : x1) + 6
    parts.push(`<text x="${r1(labelX)}" y="${r1(cy + 4)}" fill="${d.failed === true ? FAILED : '#111'}">${esc(o.format(d.value))}${d.failed === true ? ' FAILED' : ''}</text>`)
  })
  parts.push(`<text x="${r1(left + plotW / 2)}" y="${top + plotH + 36}" text-anchor="middle" fill="#111">${esc(o.axisLabel)}</text>`)
  if (o.caption !== undefined) parts.push(`<text x="${left}" y="${top + plotH + 54}" fill="#6b7280" font-size="11">${esc(o.caption)}</text>`)
  parts.push('</svg>')
  return parts.join('')
}

export interface LineSeries {
  label: string
  /** one value per x label; null = missing */
  values: Array<number | null>
  peer?: boolean
  /** what a non-model target is (peer, external), shown after its name */
  tag?: string
  failed?: boolean
  color?: string
}

export interface LineChartOptions {
  title: string
  xLabels: string[]
  xAxisLabel: string
  yAxisLabel: string
  series: LineSeries[]
  format: (v: number) => string
  width?: number
}

/** Lines over categorical x positions on a log10 y axis (latencies span decades). */
export function logLineChart (o: LineChartOptions): string {
  const width = o.width ?? CHART_WIDTH
  const left = 70
  const right = 170
  const top = 34
  const plotH = 230
  const height = top + plotH + 56
  const plotW = width - left - right
  const vals = o.series.flatMap((s) => s.values).filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0)
  const lo = vals.length === 0 ? 0 : Math.floor(Math.log10(Math.min(...vals)))
  let hi = vals.length === 0 ? 1 : Math.ceil(Math.log10(Math.max(...vals)))
  if (hi <= lo) hi = lo + 1
  const y = (v: number): number => top + plotH - (Math.log10(v) - lo) / (hi - lo) * plotH
  const xs = o.xLabels.map((_, i) => left + (o.xLabels.length === 1 ? plotW / 2 : i / (o.xLabels.length - 1) * plotW))
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(o.title)}" ${FONT} font-size="12">`)
  parts.push(`<title>${esc(o.title)}</title>`)
  parts.push(`<text x="${left}" y="18" font-size="14" font-weight="600" fill="#111">${esc(o.title)}</text>`)
  const decades = hi - lo
  const mult = decades <= 2 ? [1, 2, 5] : [1]
  for (let e = lo; e <= hi; e++) {
    for (const m of mult) {
      const v = m * 10 ** e
      if (Math.log10(v) > hi + 1e-9) continue
      const ty = r1(y(v))
      parts.push(`<line x1="${left}" y1="${ty}" x2="${left + plotW}" y2="${ty}" stroke="${m === 1 ? '#d1d5db' : '#f0f1f3'}"/>`)
      parts.push(`<text x="${left - 6}" y="${r1(y(v) + 4)}" text-anchor="end" fill="#374151">${esc(o.format(v))}</text>`)
    }
  }
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#6b7280"/>`)
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#6b7280"/>`)
  o.xLabels.forEach((l, i) => {
    parts.push(`<line x1="${r1(xs[i]!)}" y1="${top + plotH}" x2="${r1(xs[i]!)}" y2="${top + plotH + 4}" stroke="#6b7280"/>`)
    parts.push(`<text x="${r1(xs[i]!)}" y="${top + plotH + 18}" text-anchor="middle" fill="#374151">${esc(l)}</text>`)
  })
  parts.push(`<text x="${r1(left + plotW / 2)}" y="${top + plotH + 40}" text-anchor="middle" fill="#111">${esc(o.xAxisLabel)}</text>`)
  parts.push(`<text transform="translate(16 ${r1(top + plotH / 2)}) rotate(-90)" text-anchor="middle" fill="#111">${esc(o.yAxisLabel)}</text>`)
  o.series.forEach((s, si) => {
    const color = s.failed === true ? FAILED : s.color ?? PALETTE[si % PALETTE.length]!
    const dash = s.peer === true || s.failed === true ? ' stroke-dasharray="5 3"' : ''
    let d = ''
    let pen = false
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v) || v <= 0) { pen = false; return }
      d += `${pen ? 'L' : 'M'}${r1(xs[i]!)} ${r1(y(v))}`
      pen = true
    })
    if (d !== '') parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`)
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v) || v <= 0) return
      parts.push(`<circle cx="${r1(xs[i]!)}" cy="${r1(y(v))}" r="3" fill="${color}"><title>${esc(`${s.label} ${o.xLabels[i]}: ${o.format(v)}`)}</title></circle>`)
    })
    const ly = top + 8 + si * 18
    parts.push(`<line x1="${left + plotW + 14}" y1="${ly}" x2="${left + plotW + 36}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`)
    parts.push(`<text x="${left + plotW + 42}" y="${ly + 4}" fill="#111">${esc(s.label)}${s.tag !== undefined ? ` (${s.tag})` : ''}${s.failed === true ? ' FAILED' : ''}</text>`)
  })
  if (vals.length === 0) parts.push(`<text x="${r1(left + plotW / 2)}" y="${r1(top + plotH / 2)}" text-anchor="middle" fill="#6b7280">no latency measured</text>`)
  parts.push('</svg>')
  return parts.join('')
}

const failed = (r: TargetRow): boolean => r.status === 'failed'
const colorOf = (i: number): string => PALETTE[i % PALETTE.length]!

/** Throughput of every target of a group: median bar, min–max whisker, a dot per repetition. */
export function throughputChart (g: ReportGroup): string {
  const n = Math.max(0, ...g.rows.map((r) => r.throughput?.n ?? 0))
  return barChart({
    title: `Throughput — ${g.label}`,
    axisLabel: 'requests per second (req/s)',
    caption: `bar = median, whisker = min–max, dots = each of ${n} repetition(s)`,
    format: formatRate,
    data: g.rows.map((r, i) => ({
      label: r.target,
      value: r.throughput?.median ?? null,
      lo: r.throughput?.min ?? null,
      hi: r.throughput?.max ?? null,
      points: r.throughput?.values ?? [],
      peer: r.kind !== 'model',
      tag: r.kind === 'model' ? undefined : r.kind,
      failed: failed(r),
      color: colorOf(i),
    })),
  })
}

export const PERCENTILES = ['p50', 'p90', 'p99', 'p99.9'] as const

/** Latency percentiles (medians over repetitions) per target, log scale. */
export function latencyChart (g: ReportGroup): string {
  return logLineChart({
    title: `Latency percentiles — ${g.label}`,
    xLabels: [...PERCENTILES],
    xAxisLabel: g.mode === 'churn' ? 'percentile (connect → request → reply)' : 'percentile (request → reply)',
    yAxisLabel: 'latency (ms, log scale)',
    format: formatMs,
    series: g.rows.map((r, i) => ({
      label: r.target,
      values: [r.latency.p50, r.latency.p90, r.latency.p99, r.latency.p999].map((s) => s?.median ?? null),
      peer: r.kind !== 'model',
      tag: r.kind === 'model' ? undefined : r.kind,
      failed: failed(r),
      color: colorOf(i),
    })),
  })
}

/** Memory per connection (PSS, RSS where PSS is unknown); null when the group has none (churn). */
export function memoryChart (g: ReportGroup): string | null {
  if (!g.rows.some((r) => r.pssPerConnection !== null || r.rssPerConnection !== null)) return null
  const usePss = g.rows.some((r) => r.pssPerConnection !== null)
  // the axis states one unit, and its ticks are numbers in it
  const biggest = Math.max(0, ...g.rows.flatMap((r) => {
    const s = usePss ? r.pssPerConnection : r.rssPerConnection
    return s === null ? [] : [Math.abs(s.max), Math.abs(s.min)]
  }))
  const [unit, unitName] = biggest >= 1024 * 1024 ? [1024 * 1024, 'MiB'] : biggest >= 1024 ? [1024, 'KiB'] : [1, 'bytes']
  return barChart({
    title: `Memory per connection — ${g.label}`,
    axisLabel: `${usePss ? 'PSS' : 'RSS'} per connection under load, above idle (${unitName})`,
    caption: 'bar = median, whisker = min–max over repetitions; whole process tree',
    format: formatBytes,
    tickFormat: (v) => String(Number((v / unit).toFixed(2))),
    binaryTicks: true,
    data: g.rows.map((r, i) => {
      const s = usePss ? r.pssPerConnection : r.rssPerConnection
      return { label: r.target, value: s?.median ?? null, lo: s?.min ?? null, hi: s?.max ?? null, points: s?.values ?? [], peer: r.kind !== 'model', tag: r.kind === 'model' ? undefined : r.kind, failed: failed(r), color: colorOf(i) }
    }),
  })
}
