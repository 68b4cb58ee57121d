/**
 * Flame graphs in the report: the merged CPU profile of each target (`bench --profile`), drawn as an
 * icicle (callers on top, callees below, width = share of the samples) in plain SVG — no script,
 * nothing fetched, deterministic colours (by function name). The first level says where the samples
 * ran: the primary, its worker threads, child processes. Hover a frame for its name, place and share.
 * The full profiles stay next to the results as `.cpuprofile` files for Chrome DevTools or speedscope.
 */
import type { FlameNode, ProfileRecord } from '@echoplex/results'
import { escapeHtml as esc } from './format.js'
import type { ReportGroup, TargetRow } from './model.js'

const FONT = 'font-family="ui-monospace, SFMono-Regular, Menlo, monospace"'
const ROW = 17
const r1 = (v: number): string => (Math.round(v * 10) / 10).toString()

/** A stable warm colour per function name (FNV-1a hash); V8's own frames grey, GC red. */
export function frameColor (name: string, where: string): string {
  if (name === '(garbage collector)') return '#e05a47'
  if (name.startsWith('(') && where === '') return '#b8b8b8'
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) { h ^= name.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0 }
  const hue = 18 + (h % 40)
  const light = 62 + ((h >>> 8) % 16)
  // node internals and dependencies a little paler than the project's own code
  const sat = where.startsWith('node:') || where.includes('node_modules/') ? 55 : 80
  return `hsl(${hue} ${sat}% ${light}%)`
}

export interface FlameOptions {
  title: string
  width?: number
  /** deepest level drawn */
  maxDepth?: number
}

/** The icicle SVG of a flame tree (root = all samples, not drawn as a frame of its own). */
export function flameGraph (root: FlameNode, o: FlameOptions): string {
  const width = o.width ?? 1100
  const maxDepth = o.maxDepth ?? 28
  const top = 24
  const rects: string[] = []
  let deepest = 0
  const total = Math.max(1, root.total)
  const scale = width / total
  const draw = (n: FlameNode, x: number, depth: number): void => {
    const w = n.total * scale
    if (w < 0.6 || depth > maxDepth) return
    deepest = Math.max(deepest, depth)
    const y = top + depth * ROW
    const pct = (n.total / total * 100).toFixed(1)
    const tip = `${n.name}${n.where === '' ? '' : ` (${n.where})`} — ${pct}% of samples (${n.total}; self ${n.self})`
    rects.push(`<g><title>${esc(tip)}</title><rect x="${r1(x)}" y="${y}" width="${r1(Math.max(0.5, w - 0.5))}" height="${ROW - 1}" fill="${frameColor(n.name, n.where)}"/>` +
      (w > 36 ? `<text x="${r1(x + 3)}" y="${y + 12}" fill="#111">${esc(fit(n.name, w))}</text>` : '') + '</g>')
    let cx = x
    for (const c of n.children) {
      draw(c, cx, depth + 1)
      cx += c.total * scale
    }
  }
  let x = 0
  for (const c of root.children) {
    draw(c, x, 0)
    x += c.total * scale
  }
  const height = top + (deepest + 1) * ROW + 4
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart flame" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(o.title)}" ${FONT} font-size="10">` +
    `<title>${esc(o.title)}</title><text x="0" y="15" font-size="12" font-weight="600" fill="#111" font-family="system-ui, sans-serif">${esc(o.title)}</text>${rects.join('')}</svg>`
}

/** The label that fits `px` pixels at ~6 px per character. */
function fit (name: string, px: number): string {
  const n = Math.floor((px - 6) / 6)
  return name.length <= n ? name : n <= 2 ? '' : `${name.slice(0, n - 1)}…`
}

/** The frames with the most self samples (for the Markdown report and a quick read). */
export function hottestFrames (root: FlameNode, count = 5): Array<{ name: string, where: string, self: number, share: number }> {
  const self = new Map<string, { name: string, where: string, self: number }>()
  const walk = (n: FlameNode): void => {
    if (n.self > 0) {
      const k = `${n.name}\u0000${n.where}`
      const e = self.get(k) ?? { name: n.name, where: n.where, self: 0 }
      e.self += n.self
      self.set(k, e)
    }
    for (const c of n.children) walk(c)
  }
  for (const c of root.children) walk(c)
  const total = Math.max(1, root.total)
  return [...self.values()].sort((a, b) => b.self - a.self || (a.name < b.name ? -1 : 1)).slice(0, count).map((e) => ({ ...e, share: e.self / total }))
}

export const OPEN_PROFILE_HOWTO = 'To explore a profile in full, open its .cpuprofile file in Chrome DevTools (Performance panel → “Load profile…”, ' +
  'or chrome://inspect → “Open dedicated DevTools for Node” → Profiler → Load) or in speedscope (drag the file onto speedscope.app, or run `npx speedscope FILE`).'

function profileBlock (r: TargetRow, p: ProfileRecord): string {
  const files = p.files.length === 0
    ? ''
    : `<details><summary>${p.files.length} profile file(s) in <code>${esc(p.dir)}</code></summary><ul>${p.files.map((f) => `<li><code>${esc(f.file)}</code> — ${esc(f.role ?? 'unknown')}${f.pid === null ? '' : `, pid ${f.pid}`}${(f.thread ?? 0) > 0 ? `, thread ${f.thread}` : ''}</li>`).join('')}</ul></details>`
  const hot = p.flame === null ? [] : hottestFrames(p.flame)
  return `<div class="flame-target"><h4>${esc(r.target)}${r.kind === 'peer' ? ' <span class="muted">(peer)</span>' : ''}</h4>` +
    (p.flame === null
      ? `<p class="muted">no flame graph${p.note == null ? '' : `: ${esc(p.note)}`}</p>`
      : `<div class="scroll">${flameGraph(p.flame, { title: `CPU profile — ${r.target} (${p.flame.total} samples)` })}</div>` +
        `<p class="meta">hottest (self): ${hot.map((h) => `<code>${esc(h.name)}</code> ${(h.share * 100).toFixed(1)}%`).join(', ')}${p.note == null ? '' : ` · ${esc(p.note)}`}</p>`) +
    files + '</div>'
}

/** The flame graphs of a group's targets, or null when none was profiled. */
export function flameSection (g: ReportGroup): string | null {
  const rows = g.rows.filter((r) => r.profile !== null)
  if (rows.length === 0) return null
  return `<details class="flames" open><summary>CPU profiles (flame graphs, callers above callees; width = share of samples)</summary>` +
    rows.map((r) => profileBlock(r, r.profile!)).join('\n') +
    `<p class="muted">${esc(OPEN_PROFILE_HOWTO)} V8 samples a thread blocked inside JavaScript as if it worked: pool's <code>atomicsWaitLoop</code> is a worker thread waiting for its next task (the hand-off), not CPU. Profiled runs are slower than unprofiled ones: rank targets with a run without <code>--profile</code>.</p></details>`
}
