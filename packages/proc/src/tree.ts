/**
 * The live process tree under a pid, read from /proc only. Processes that vanish while we read
 * them are left out; nothing here throws because a process went away.
 */
import {
  mapLimit,
  parseKeyValues,
  kbToBytes,
  procSysConf,
  readDirProc,
  readProc,
  readSocketInodes,
  readSocketTable,
  scanAllStats,
  STATE_NAMES,
  type ProcStat,
  type SocketEntry,
} from './procfs.js'

/** An echoplex role (the model registry lists them: `modelRoles()` in @echoplex/server), or 'unknown'. */
export type ProcessRole = 'unknown' | (string & {})
/** where a role was read from: an argv marker, a process.title like `echoplex worker`, the initial
 * environment (ECHOPLEX_ROLE), inferred (an unmarked root above marked processes is the primary) */
export type RoleSource = 'argv' | 'title' | 'environ' | 'inferred' | 'none'

export interface ProcessInfo {
  pid: number
  ppid: number
  pgid: number
  /** 0 for the root, 1 for its children, … */
  depth: number
  comm: string
  /** argv joined with spaces ('' for zombies and kernel threads) */
  cmdline: string
  /** one-letter state from /proc/PID/stat: R S D Z T t X I … */
  state: string
  stateName: string
  role: ProcessRole
  roleSource: RoleSource
  /** connections this process has served, from its title (`echoplex spare served=12`); null when it shows none */
  served: number | null
  /** num_threads from stat */
  threads: number
  rssBytes: number
  /** from smaps_rollup; null when not readable (or not asked for) */
  pssBytes: number | null
  cpuUserSec: number
  cpuSystemSec: number
  /** CPU of reaped children (stat cutime/cstime) */
  childrenCpuUserSec: number
  childrenCpuSystemSec: number
  /** summed over the process's threads (or main thread only, see ReadTreeOptions); null when unreadable */
  voluntaryCtxSwitches: number | null
  involuntaryCtxSwitches: number | null
  /** start time in clock ticks since boot (with pid, identifies a process across reads) */
  startTicks: number
  /** start time, ms since the epoch */
  startTimeMs: number
  /** established TCP sockets + connected unix sockets bound to a path; null when fds are unreadable or not asked for */
  connections: number | null
  tcpConnections: number | null
  unixConnections: number | null
  /** listening sockets held by this process: "127.0.0.1:7000", "[::1]:7000", "unix:/path" */
  listening: string[]
  listeningPorts: number[]
  /** pids of its children present in this tree */
  children: number[]
  /** CPU % over a short span (readProcessTreeWithCpu); null otherwise */
  cpuPercent: number | null
}

export interface ProcessTree {
  rootPid: number
  /** ms since the epoch when the stat scan (CPU times, states) was taken */
  readAtMs: number
  /** depth-first, root first; empty when the root process is gone */
  processes: ProcessInfo[]
  /** the span CPU % was measured over (readProcessTreeWithCpu), else null */
  cpuSpanMs: number | null
}

export interface ReadTreeOptions {
  /** read PSS from smaps_rollup (costs a page-table walk per process); default true */
  pss?: boolean
  /** count connections and listening sockets (fd scan + /proc/net); default true */
  connections?: boolean
  /** sum context switches over all threads (/proc/PID/task/*); false = main thread only; default true */
  threadCtxSwitches?: boolean
  /**
   * read roles from environ/argv; default true (any `echoplex <word>` title). A list accepts only those
   * roles from a title (the callers that know the registry pass `modelRoles()`).
   */
  roles?: boolean | readonly string[]
}

/** Pre-order walk of the descendants of rootPid over a pid → stat map. */
export function descendantsOf (rootPid: number, stats: Map<number, ProcStat>): Array<{ stat: ProcStat, depth: number }> {
  const root = stats.get(rootPid)
  if (root === undefined) return []
  const kids = new Map<number, ProcStat[]>()
  for (const s of stats.values()) {
    if (s.pid === rootPid) continue // never follow a cycle through the root
    let list = kids.get(s.ppid)
    if (list === undefined) kids.set(s.ppid, list = [])
    list.push(s)
  }
  const out: Array<{ stat: ProcStat, depth: number }> = []
  const seen = new Set<number>()
  const walk = (s: ProcStat, depth: number): void => {
    if (seen.has(s.pid)) return
    seen.add(s.pid)
    out.push({ stat: s, depth })
    const list = (kids.get(s.pid) ?? []).sort((a, b) => a.pid - b.pid)
    for (const c of list) walk(c, depth + 1)
  }
  walk(root, 0)
  return out
}

const ROLE_ARGV = /(?:^|\s)(?:--)?echoplex[-_]role[=:\s]+([A-Za-z0-9_-]+)/i
export const ROLE_TITLE = /^\s*echoplex[\s:-]+([a-z][a-z0-9-]*)\b/i
const ROLE_ENV = /(?:^|\0)ECHOPLEX_ROLE=([^\0]*)/

/**
 * Role of a process and where it came from. Live markers in the command line win (a process can
 * change them at run time through process.title): `--echoplex-role=worker`, or a title like
 * `echoplex worker`; then ECHOPLEX_ROLE in its initial environment (/proc/PID/environ shows the
 * environment as it was at exec; later process.env changes are invisible); else 'unknown'.
 */
export function roleOf (cmdline: string, environ: string | null, known?: readonly string[]): { role: ProcessRole, source: RoleSource } {
  const a = ROLE_ARGV.exec(cmdline)
  if (a?.[1] !== undefined) return { role: a[1].toLowerCase(), source: 'argv' }
  const ti = ROLE_TITLE.exec(cmdline)
  const titled = ti?.[1]?.toLowerCase()
  if (titled !== undefined && (known === undefined || known.includes(titled))) return { role: titled, source: 'title' }
  if (environ !== null) {
    const e = ROLE_ENV.exec(environ)
    const v = e?.[1]?.trim().toLowerCase()
    if (v !== undefined && /^[a-z0-9_-]+$/.test(v)) return { role: v, source: 'environ' }
  }
  return { role: 'unknown', source: 'none' }
}

const SERVED_TITLE = /^\s*echoplex[\s:-]+\S+.*\bserved=(\d+)\b/i

/** Connections served, as an echoplex child shows them in its title (`echoplex connection served=3`); null otherwise. */
export function servedFrom (cmdline: string): number | null {
  const m = SERVED_TITLE.exec(cmdline)
  return m?.[1] === undefined ? null : Number(m[1])
}

/** roleOf(…).role */
export function roleFrom (cmdline: string, environ: string | null): ProcessRole {
  return roleOf(cmdline, environ).role
}

async function readCtxSwitches (pid: number, allThreads: boolean, status: Map<string, string>): Promise<{ vol: number | null, invol: number | null }> {
  const fromStatus = (m: Map<string, string>): { vol: number | null, invol: number | null } => {
    const v = m.get('voluntary_ctxt_switches')
    const i = m.get('nonvoluntary_ctxt_switches')
    return { vol: v === undefined ? null : Number(v), invol: i === undefined ? null : Number(i) }
  }
  if (!allThreads) return fromStatus(status)
  const tids = await readDirProc(`/proc/${pid}/task`)
  if (tids === null || tids.length <= 1) return fromStatus(status)
  const per = await mapLimit(tids, 16, async (tid) => {
    const text = await readProc(`/proc/${pid}/task/${tid}/status`)
    return text === null ? { vol: null, invol: null } : fromStatus(parseKeyValues(text))
  })
  let vol = 0
  let invol = 0
  let any = false
  for (const p of per) {
    if (p.vol !== null) { vol += p.vol; any = true }
    if (p.invol !== null) invol += p.invol
  }
  return any ? { vol, invol } : fromStatus(status)
}

interface SocketCounts {
  tcp: number
  unix: number
  listening: string[]
  ports: number[]
}

function countSockets (inodes: number[], table: Map<number, SocketEntry>): SocketCounts {
  let tcp = 0
  let unix = 0
  const listening: string[] = []
  const ports = new Set<number>()
  for (const ino of new Set(inodes)) {
    const e = table.get(ino)
    if (e === undefined) continue
    if (e.kind === 'unix') {
      if (e.state === 'connected' && e.hasPath) unix++
      else if (e.state === 'listen' && e.hasPath) listening.push(`unix:${e.local}`)
    } else if (e.state === 'established') {
      tcp++
    } else if (e.state === 'listen') {
      listening.push(e.local)
      if (e.localPort !== null) ports.add(e.localPort)
    }
  }
  return { tcp, unix, listening: listening.sort(), ports: [...ports].sort((a, b) => a - b) }
}

async function readDetails (
  stat: ProcStat,
  depth: number,
  opts: Required<ReadTreeOptions>,
  table: Map<number, SocketEntry> | null,
): Promise<ProcessInfo | null> {
  const { clockTicks, pageSize, bootTimeMs } = procSysConf()
  const pid = stat.pid
  const statusText = await readProc(`/proc/${pid}/status`)
  if (statusText === null) return null // gone
  const status = parseKeyValues(statusText)
  const [cmdlineRaw, environ, smaps, ctx, inodes] = await Promise.all([
    readProc(`/proc/${pid}/cmdline`),
    opts.roles !== false ? readProc(`/proc/${pid}/environ`) : Promise.resolve(null),
    opts.pss ? readProc(`/proc/${pid}/smaps_rollup`) : Promise.resolve(null),
    readCtxSwitches(pid, opts.threadCtxSwitches, status),
    opts.connections && table !== null ? readSocketInodes(pid) : Promise.resolve(null),
  ])
  const cmdline = (cmdlineRaw ?? '').replace(/\0+$/, '').split('\0').join(' ')
  let pssBytes: number | null = null
  if (smaps !== null) pssBytes = kbToBytes(parseKeyValues(smaps).get('Pss')) ?? null
  const rssBytes = kbToBytes(status.get('VmRSS')) ?? Math.max(0, stat.rssPages) * pageSize
  const sockets = inodes !== null && table !== null ? countSockets(inodes, table) : null
  return {
    pid,
    ppid: stat.ppid,
    pgid: stat.pgid,
    depth,
    comm: stat.comm,
    cmdline,
    state: stat.state,
    stateName: STATE_NAMES[stat.state] ?? 'unknown',
    ...(() => {
      const r = opts.roles !== false ? roleOf(cmdline, environ, opts.roles === true ? undefined : opts.roles) : { role: 'unknown', source: 'none' as const }
      return { role: r.role, roleSource: r.source }
    })(),
    served: servedFrom(cmdline),
    threads: Number(status.get('Threads') ?? stat.threads) || stat.threads,
    rssBytes,
    pssBytes,
    cpuUserSec: stat.utime / clockTicks,
    cpuSystemSec: stat.stime / clockTicks,
    childrenCpuUserSec: stat.cutime / clockTicks,
    childrenCpuSystemSec: stat.cstime / clockTicks,
    voluntaryCtxSwitches: ctx.vol,
    involuntaryCtxSwitches: ctx.invol,
    startTicks: stat.startTicks,
    startTimeMs: Math.round(bootTimeMs + (stat.startTicks / clockTicks) * 1000),
    connections: sockets === null ? null : sockets.tcp + sockets.unix,
    tcpConnections: sockets === null ? null : sockets.tcp,
    unixConnections: sockets === null ? null : sockets.unix,
    listening: sockets?.listening ?? [],
    listeningPorts: sockets?.ports ?? [],
    children: [],
    cpuPercent: null,
  }
}

/** Reads the live tree under rootPid (root included). Empty `processes` when the root is gone. */
export async function readProcessTree (rootPid: number, options: ReadTreeOptions = {}): Promise<ProcessTree> {
  const opts: Required<ReadTreeOptions> = {
    pss: options.pss ?? true,
    connections: options.connections ?? true,
    threadCtxSwitches: options.threadCtxSwitches ?? true,
    roles: options.roles ?? true,
  }
  const stats = await scanAllStats()
  const readAtMs = Date.now()
  const members = descendantsOf(rootPid, stats)
  if (members.length === 0) return { rootPid, readAtMs, processes: [], cpuSpanMs: null }
  const table = opts.connections ? await readSocketTable(rootPid) : null
  const details = await mapLimit(members, 16, (m) => readDetails(m.stat, m.depth, opts, table))
  const processes = details.filter((p): p is ProcessInfo => p !== null)
  const byPid = new Map(processes.map((p) => [p.pid, p]))
  for (const p of processes) {
    if (p.pid !== rootPid) byPid.get(p.ppid)?.children.push(p.pid)
  }
  const root = byPid.get(rootPid)
  if (opts.roles !== false && root !== undefined && root.role === 'unknown' &&
    processes.some((p) => p !== root && p.role !== 'unknown')) {
    root.role = 'primary'
    root.roleSource = 'inferred'
  }
  return { rootPid, readAtMs, processes, cpuSpanMs: null }
}

/** Number of descendants of rootPid (root excluded) in state Z (exited, not yet reaped). */
export async function countZombies (rootPid: number): Promise<number> {
  const members = descendantsOf(rootPid, await scanAllStats())
  return members.filter((m) => m.stat.pid !== rootPid && m.stat.state === 'Z').length
}

export interface FindServerOptions {
  /** TCP port a LISTEN socket is bound to */
  port?: number
  /** or a unix socket path being listened on */
  unix?: string
}

/**
 * The pid that owns a listening socket on `port` (TCP, v4 or v6) or unix path. When several
 * processes hold it (cluster workers sharing the primary's socket), the topmost ancestor among
 * them — the primary — is returned. null when nobody we can see listens there.
 */
export async function findServerPid (options: FindServerOptions): Promise<number | null> {
  const { port, unix } = options
  if (port === undefined && unix === undefined) throw new TypeError('findServerPid needs port or unix')
  const table = await readSocketTable()
  const wanted = new Set<number>()
  for (const e of table.values()) {
    if (e.state !== 'listen') continue
    if (port !== undefined && e.kind !== 'unix' && e.localPort === port) wanted.add(e.inode)
    if (unix !== undefined && e.kind === 'unix' && e.local === unix) wanted.add(e.inode)
  }
  if (wanted.size === 0) return null
  const stats = await scanAllStats()
  const pids = [...stats.keys()]
  const owners = (await mapLimit(pids, 32, async (pid) => {
    const inodes = await readSocketInodes(pid)
    return inodes !== null && inodes.some((i) => wanted.has(i)) ? pid : null
  })).filter((p): p is number => p !== null)
  if (owners.length === 0) return null
  const ownerSet = new Set(owners)
  const hasOwnerAncestor = (pid: number): boolean => {
    const seen = new Set<number>()
    let cur = stats.get(pid)?.ppid
    while (cur !== undefined && cur > 0 && !seen.has(cur)) {
      if (ownerSet.has(cur)) return true
      seen.add(cur)
      cur = stats.get(cur)?.ppid
    }
    return false
  }
  const tops = owners.filter((p) => !hasOwnerAncestor(p)).sort((a, b) => a - b)
  return tops[0] ?? null
}

export interface TreeTotals {
  processes: number
  threads: number
  rssBytes: number
  /** null when no process's PSS was readable */
  pssBytes: number | null
  cpuUserSec: number
  cpuSystemSec: number
  zombies: number
  /** null when connections were not counted */
  connections: number | null
  cpuPercent: number | null
}

/** Sums over a tree (zombies counted among descendants only). */
export function treeTotals (tree: ProcessTree): TreeTotals {
  const t: TreeTotals = { processes: 0, threads: 0, rssBytes: 0, pssBytes: null, cpuUserSec: 0, cpuSystemSec: 0, zombies: 0, connections: null, cpuPercent: null }
  for (const p of tree.processes) {
    t.processes++
    t.threads += p.threads
    t.rssBytes += p.rssBytes
    if (p.pssBytes !== null) t.pssBytes = (t.pssBytes ?? 0) + p.pssBytes
    t.cpuUserSec += p.cpuUserSec
    t.cpuSystemSec += p.cpuSystemSec
    if (p.state === 'Z' && p.pid !== tree.rootPid) t.zombies++
    if (p.connections !== null) t.connections = (t.connections ?? 0) + p.connections
    if (p.cpuPercent !== null) t.cpuPercent = (t.cpuPercent ?? 0) + p.cpuPercent
  }
  return t
}

/**
 * Reads the tree twice, `spanMs` apart, and fills each process's `cpuPercent` (100 = one core
 * busy) from the difference. Processes born in between are measured since their start.
 */
export async function readProcessTreeWithCpu (rootPid: number, spanMs = 200, options: ReadTreeOptions = {}): Promise<ProcessTree> {
  // the first read only needs CPU times: skip the expensive parts
  const first = await readProcessTree(rootPid, { pss: false, connections: false, threadCtxSwitches: false, roles: false })
  const t0 = first.readAtMs
  await new Promise((resolve) => setTimeout(resolve, spanMs))
  const second = await readProcessTree(rootPid, options)
  const before = new Map(first.processes.map((p) => [`${p.pid}:${p.startTicks}`, p]))
  const span = second.readAtMs - t0
  for (const p of second.processes) {
    const prev = before.get(`${p.pid}:${p.startTicks}`)
    const cpuNow = p.cpuUserSec + p.cpuSystemSec
    let dt: number
    let dCpu: number
    if (prev !== undefined) {
      dt = span
      dCpu = cpuNow - (prev.cpuUserSec + prev.cpuSystemSec)
    } else {
      dt = Math.max(1, Math.min(span, second.readAtMs - p.startTimeMs))
      dCpu = cpuNow
    }
    p.cpuPercent = dt > 0 ? Math.max(0, (dCpu * 1000 / dt) * 100) : 0
  }
  second.cpuSpanMs = span
  return second
}
