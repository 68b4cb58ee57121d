/**
 * Text rendering of a process tree, `pstree -p` style with columns — what `echoplex ps` prints.
 */
import { treeTotals, type ProcessInfo, type ProcessTree } from './tree.js'

export interface FormatTreeOptions {
  /** append the command line after `comm(pid)`; default true */
  args?: boolean
  /** cut lines to this many characters (0 = no limit); default 0 */
  width?: number
  /** add a totals line; default true */
  totals?: boolean
}

const MiB = 1024 * 1024

function fmtMiB (bytes: number): string {
  return (bytes / MiB).toFixed(1)
}

function pad (s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n)
}

/**
 * Columns: PID PPID ROLE S THR RSS(MiB) CPU% CONN SERVED (connections a child has served, from its
 * title), then the tree (`comm(pid)` with ├─/└─ links,
 * followed by the arguments). CPU% shows '-' unless the tree came from readProcessTreeWithCpu,
 * CONN '-' when connections were not counted.
 */
export function formatTree (tree: ProcessTree, options: FormatTreeOptions = {}): string {
  const showArgs = options.args ?? true
  const width = options.width ?? 0
  if (tree.processes.length === 0) return `no process ${tree.rootPid} (gone or never existed)\n`
  const byPid = new Map(tree.processes.map((p) => [p.pid, p]))
  const rows: Array<{ p: ProcessInfo, prefix: string }> = []
  const visited = new Set<number>()
  const walk = (p: ProcessInfo, lead: string, self: string): void => {
    if (visited.has(p.pid)) return
    visited.add(p.pid)
    rows.push({ p, prefix: self })
    const kids = p.children.map((c) => byPid.get(c)).filter((c): c is ProcessInfo => c !== undefined)
    kids.forEach((c, i) => {
      const last = i === kids.length - 1
      walk(c, lead + (last ? '   ' : '│  '), lead + (last ? '└─ ' : '├─ '))
    })
  }
  for (const p of tree.processes) {
    // the root first; then anything whose parent vanished during the read
    if (!visited.has(p.pid) && (p.pid === tree.rootPid || !byPid.has(p.ppid))) walk(p, '', '')
  }
  for (const p of tree.processes) if (!visited.has(p.pid)) walk(p, '', '') // safety net

  const header = ['PID', 'PPID', 'ROLE', 'S', 'THR', 'RSS MiB', 'CPU%', 'CONN', 'SERVED', 'TREE']
  const table = rows.map(({ p, prefix }) => {
    // a process that renamed itself (process.title = 'echoplex worker') shows its full title, not comm's
    // 15-character cut of it (`echoplex primar`), and no second copy of it as arguments
    const titled = p.cmdline === p.comm || (p.comm.length === 15 && p.cmdline.startsWith(p.comm))
    const name = titled ? p.cmdline : p.comm
    const args = showArgs && p.cmdline !== '' && !titled ? `  ${p.cmdline}` : ''
    return [
      String(p.pid),
      String(p.ppid),
      p.role,
      p.state,
      String(p.threads),
      fmtMiB(p.rssBytes),
      p.cpuPercent === null ? '-' : p.cpuPercent.toFixed(1),
      p.connections === null ? '-' : String(p.connections),
      p.served === null ? '-' : String(p.served),
      `${prefix}${name}(${p.pid})${args}`,
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? '').length)))
  const numeric = [true, true, false, false, true, true, true, true, true, false]
  const line = (cells: string[]): string => {
    const s = cells.map((c, i) => i === cells.length - 1 ? c : pad(c, widths[i] ?? 0, numeric[i])).join('  ')
    return width > 0 && s.length > width ? s.slice(0, Math.max(1, width - 1)) + '…' : s
  }
  const out = [line(header), ...table.map(line)]
  if (options.totals ?? true) {
    const t = treeTotals(tree)
    const parts = [
      `${t.processes} process${t.processes === 1 ? '' : 'es'}`,
      `${t.threads} threads`,
      `RSS ${fmtMiB(t.rssBytes)} MiB`,
    ]
    if (t.pssBytes !== null) parts.push(`PSS ${fmtMiB(t.pssBytes)} MiB`)
    if (t.cpuPercent !== null) parts.push(`CPU ${t.cpuPercent.toFixed(1)}%`)
    if (t.connections !== null) parts.push(`${t.connections} connection${t.connections === 1 ? '' : 's'}`)
    parts.push(`${t.zombies} zombie${t.zombies === 1 ? '' : 's'}`)
    const listening = tree.processes.flatMap((p) => p.listening)
    if (listening.length > 0) parts.push(`listening ${[...new Set(listening)].join(' ')}`)
    out.push(parts.join(', '))
  }
  return out.join('\n') + '\n'
}
