/**
 * Number formatting shared by the HTML, Markdown and text outputs, so the same value reads the same
 * everywhere (the tests look for these exact strings). Deterministic: no locale of the viewer.
 */

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v)

function grouped (v: number, digits: number): string {
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** Requests per second: `31,676`, `412`, `45.3`, `4.25`; `-` when unknown. */
/** How a target that is not one of our models is marked next to its name: ` (peer)`, ` (external)`. */
export function kindNote (kind: string): string {
  return kind === 'model' ? '' : ` (${kind})`
}

export function formatRate (v: number | null | undefined): string {
  if (!finite(v)) return '-'
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 100) return grouped(v, 0)
  if (a >= 10) return grouped(v, 1)
  return grouped(v, 2)
}

/** Milliseconds: `0.191`, `8.14`, `44.9`, `1,232`; `-` when unknown. */
export function formatMs (v: number | null | undefined): string {
  if (!finite(v)) return '-'
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 100) return grouped(v, 0)
  if (a >= 10) return grouped(v, 1)
  if (a >= 1) return grouped(v, 2)
  return grouped(v, 3)
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** Bytes, binary units: `512 B`, `48.0 KiB`, `480.8 MiB`, `-12.0 KiB`; `-` when unknown. */
export function formatBytes (v: number | null | undefined): string {
  if (!finite(v)) return '-'
  let a = Math.abs(v)
  let u = 0
  while (a >= 1024 && u < UNITS.length - 1) { a /= 1024; u++ }
  const s = u === 0 ? String(Math.round(a)) : a.toFixed(1)
  return `${v < 0 ? '-' : ''}${s} ${UNITS[u]}`
}

/** The range of a ratio over rounds: `0.72–0.86× over 5 rounds` (empty without one). */
export function formatRoundRange (s: { min: number, max: number, n: number } | null): string {
  if (s === null) return ''
  return `${formatRatio(s.min).slice(0, -1)}–${formatRatio(s.max)} over ${s.n} rounds`
}

/** A ratio: `0.81×`, `12.3×`, `0.003×`. */
export function formatRatio (v: number | null | undefined): string {
  if (!finite(v)) return '-'
  if (v === 0) return '0×'
  const a = Math.abs(v)
  if (a >= 10) return `${grouped(v, 1)}×`
  if (a >= 0.1) return `${v.toFixed(2)}×`
  if (a >= 0.001) return `${v.toFixed(3)}×`
  return `${v.toExponential(1)}×`
}

/** A signed percentage: `+12.3%`, `-50.0%`, `0.0%`. */
export function formatPct (v: number | null | undefined, digits = 1): string {
  if (!finite(v)) return '-'
  const s = Math.abs(v).toFixed(digits)
  if (Number(s) === 0) return `${(0).toFixed(digits)}%`
  return `${v > 0 ? '+' : '-'}${s}%`
}

/** A plain count: `3`, `1,024`, `2.5` (non-integers keep one decimal). */
export function formatCount (v: number | null | undefined): string {
  if (!finite(v)) return '-'
  return Number.isInteger(v) ? grouped(v, 0) : grouped(v, 1)
}

/** A CPU percentage of one core: `153%`. */
export function formatCpuPct (v: number | null | undefined): string {
  if (!finite(v)) return '-'
  return `${grouped(v, 0)}%`
}

/** `1 m 05 s`, `38.7 s`, `850 ms` */
export function formatDuration (ms: number | null | undefined): string {
  if (!finite(ms)) return '-'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`
}

/** Payload size as in scenario ids: `64B`, `4KiB`. */
export function formatPayload (bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024}MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}KiB`
  return `${bytes}B`
}

/** HTML (and SVG text) escaping. */
export function escapeHtml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
}

/** A Markdown table cell: no pipes or newlines inside. */
export function mdCell (s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}

/** A Markdown table. */
export function mdTable (head: string[], rows: string[][], align?: Array<'l' | 'r'>): string {
  const sep = head.map((_, i) => (align?.[i] ?? 'l') === 'r' ? '---:' : '---')
  return [head, sep, ...rows].map((r, i) => `| ${(i === 1 ? r : r.map(mdCell)).join(' | ')} |`).join('\n')
}
