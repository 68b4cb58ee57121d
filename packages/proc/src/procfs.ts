/**
 * Low-level /proc readers shared by the process-tree reader and the sampler. Everything here is
 * Linux-only and tolerant of processes vanishing mid-read: a file that is gone (ENOENT/ESRCH) or
 * not readable by us (EACCES/EPERM) reads as `null`, never as an exception.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

/** errno codes meaning "the process (or this file of it) is gone or hidden from us". */
const SOFT_ERRORS = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'ENOTDIR', 'EINVAL', 'EIO'])

export function isSoftProcError (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' && SOFT_ERRORS.has(code)
}

/*
 * /proc files are tiny and served from memory, so each read is done synchronously (an async read
 * costs several threadpool round trips and is ~10x slower), but every YIELD_EVERY reads we yield
 * to the event loop so a sampler running next to a load generator never blocks it for long.
 */
const YIELD_EVERY = 32
let opsSinceYield = 0

async function turn (): Promise<void> {
  if (++opsSinceYield >= YIELD_EVERY) {
    opsSinceYield = 0
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

function soft<T> (fn: () => T): T | null {
  try {
    return fn()
  } catch (err) {
    if (isSoftProcError(err)) return null
    throw err
  }
}

export async function readProc (path: string): Promise<string | null> {
  await turn()
  return soft(() => readFileSync(path, 'utf8'))
}

export async function readDirProc (path: string): Promise<string[] | null> {
  await turn()
  return soft(() => readdirSync(path))
}

export async function readLinkProc (path: string): Promise<string | null> {
  await turn()
  return soft(() => readlinkSync(path))
}

/** Runs `fn` over `items` with at most `limit` in flight (keeps fd use and threadpool queues bounded). */
export async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  const n = Math.max(1, Math.min(limit, items.length))
  await Promise.all(Array.from({ length: n }, worker))
  return out
}

export interface SysConf {
  /** USER_HZ: the unit of utime/stime/starttime in /proc/PID/stat. */
  clockTicks: number
  pageSize: number
  /** Boot time, ms since the epoch (from /proc/stat `btime`). */
  bootTimeMs: number
}

let sysconf: SysConf | undefined

function getconf (name: string, fallback: number): number {
  try {
    const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim())
    return Number.isFinite(v) && v > 0 ? v : fallback
  } catch {
    return fallback
  }
}

/** Read once per process: CLK_TCK, page size, boot time. */
export function procSysConf (): SysConf {
  if (sysconf !== undefined) return sysconf
  let bootTimeMs = 0
  try {
    const m = /^btime\s+(\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))
    if (m?.[1] !== undefined) bootTimeMs = Number(m[1]) * 1000
  } catch { /* not Linux; leave 0 */ }
  sysconf = { clockTicks: getconf('CLK_TCK', 100), pageSize: getconf('PAGESIZE', 4096), bootTimeMs }
  return sysconf
}

/** The fields of /proc/PID/stat that we use (times in clock ticks). */
export interface ProcStat {
  pid: number
  comm: string
  state: string
  ppid: number
  pgid: number
  sid: number
  utime: number
  stime: number
  cutime: number
  cstime: number
  threads: number
  startTicks: number
  rssPages: number
}

/** Parses /proc/PID/stat. comm may contain spaces and parentheses, so split at the last ')'. */
export function parseStat (text: string): ProcStat | null {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < open) return null
  const pid = Number(text.slice(0, open).trim())
  const comm = text.slice(open + 1, close)
  const f = text.slice(close + 2).trim().split(/\s+/)
  // f[0] is field 3 (state) of proc(5)
  if (f.length < 22) return null
  const n = (i: number): number => Number(f[i])
  return {
    pid,
    comm,
    state: f[0] ?? '?',
    ppid: n(1),
    pgid: n(2),
    sid: n(3),
    utime: n(11),
    stime: n(12),
    cutime: n(13),
    cstime: n(14),
    threads: n(17),
    startTicks: n(19),
    rssPages: n(21),
  }
}

export async function readStat (pid: number): Promise<ProcStat | null> {
  const text = await readProc(`/proc/${pid}/stat`)
  return text === null ? null : parseStat(text)
}

/** Every live pid on the system with its parsed stat. */
export async function scanAllStats (): Promise<Map<number, ProcStat>> {
  const names = (await readDirProc('/proc')) ?? []
  const pids = names.filter((n) => /^\d+$/.test(n)).map(Number)
  const stats = await mapLimit(pids, 64, readStat)
  const out = new Map<number, ProcStat>()
  for (const s of stats) if (s !== null) out.set(s.pid, s)
  return out
}

/** `Key:\tvalue` lines of /proc/PID/status (or smaps_rollup) as a map. */
export function parseKeyValues (text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) out.set(line.slice(0, i).trim(), line.slice(i + 1).trim())
  }
  return out
}

/** "1234 kB" → bytes; undefined when absent. */
export function kbToBytes (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const m = /^(\d+)\s*kB$/i.exec(value)
  return m?.[1] === undefined ? undefined : Number(m[1]) * 1024
}

export const STATE_NAMES: Readonly<Record<string, string>> = {
  R: 'running',
  S: 'sleeping',
  D: 'disk-sleep',
  Z: 'zombie',
  T: 'stopped',
  t: 'tracing-stop',
  X: 'dead',
  x: 'dead',
  I: 'idle',
  K: 'wakekill',
  W: 'waking',
  P: 'parked',
}

// ---------------------------------------------------------------------------------------------
// Socket tables
// ---------------------------------------------------------------------------------------------

export type SocketKind = 'tcp' | 'tcp6' | 'unix'

export interface SocketEntry {
  kind: SocketKind
  inode: number
  /** 'established' | 'listen' | 'other' (tcp), 'connected' | 'listen' | 'other' (unix) */
  state: 'established' | 'connected' | 'listen' | 'other'
  /** "127.0.0.1:7000", "[::1]:7000", or a unix path ("@name" for abstract) */
  local: string
  localPort: number | null
  /** unix only: the socket has a bound path (accepted server sides of a path listener have one; socketpairs don't) */
  hasPath: boolean
}

function hexIpv4 (hex: string): string {
  // 32-bit word in host (little-endian) byte order
  const b = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).reverse()
  return b.join('.')
}

function hexIpv6 (hex: string): string {
  // four 32-bit words, each in host byte order
  const bytes: number[] = []
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8)
    const wb = [0, 2, 4, 6].map((i) => parseInt(word.slice(i, i + 2), 16)).reverse()
    bytes.push(...wb)
  }
  // IPv4-mapped ::ffff:a.b.c.d
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes.slice(12).join('.')}`
  }
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0))
  // compress the longest run of zero groups (length >= 2)
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hexes = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hexes.join(':')
  const head = hexes.slice(0, bestStart).join(':')
  const tail = hexes.slice(bestStart + bestLen).join(':')
  return `${head}::${tail}`
}

/** Parses /proc/net/tcp or /proc/net/tcp6. */
export function parseTcpTable (text: string, kind: 'tcp' | 'tcp6'): SocketEntry[] {
  const out: SocketEntry[] = []
  const lines = text.split('\n')
  for (let i = 1; i < lines.length; i++) {
    const f = (lines[i] ?? '').trim().split(/\s+/)
    if (f.length < 10) continue
    const [addrHex, portHex] = (f[1] ?? '').split(':')
    const st = f[3]
    const inode = Number(f[9])
    if (addrHex === undefined || portHex === undefined || !Number.isFinite(inode)) continue
    const port = parseInt(portHex, 16)
    const ip = kind === 'tcp' ? hexIpv4(addrHex) : hexIpv6(addrHex)
    out.push({
      kind,
      inode,
      state: st === '01' ? 'established' : st === '0A' ? 'listen' : 'other',
      local: kind === 'tcp' ? `${ip}:${port}` : `[${ip}]:${port}`,
      localPort: port,
      hasPath: false,
    })
  }
  return out
}

const UNIX_ACCEPTCON = 0x10000

/** Parses /proc/net/unix: `Num RefCount Protocol Flags Type St Inode [Path]`. */
export function parseUnixTable (text: string): SocketEntry[] {
  const out: SocketEntry[] = []
  const lines = text.split('\n')
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const f = line.trim().split(/\s+/)
    if (f.length < 7) continue
    const flags = parseInt(f[3] ?? '0', 16)
    const st = f[5]
    const inode = Number(f[6])
    if (!Number.isFinite(inode)) continue
    const path = f.length > 7 ? f.slice(7).join(' ') : ''
    out.push({
      kind: 'unix',
      inode,
      state: (flags & UNIX_ACCEPTCON) !== 0 ? 'listen' : st === '03' ? 'connected' : 'other',
      local: path,
      localPort: null,
      hasPath: path !== '',
    })
  }
  return out
}

/** All TCP/TCP6/unix sockets of the network namespace `pid` lives in (or ours), by inode. */
export async function readSocketTable (pid?: number): Promise<Map<number, SocketEntry>> {
  const base = pid === undefined ? '/proc/net' : `/proc/${pid}/net`
  const read = async (name: string): Promise<string | null> =>
    (await readProc(`${base}/${name}`)) ?? (pid === undefined ? null : await readProc(`/proc/net/${name}`))
  const [tcp, tcp6, unix] = await Promise.all([read('tcp'), read('tcp6'), read('unix')])
  const out = new Map<number, SocketEntry>()
  const add = (entries: SocketEntry[]): void => { for (const e of entries) if (e.inode !== 0) out.set(e.inode, e) }
  if (tcp !== null) add(parseTcpTable(tcp, 'tcp'))
  if (tcp6 !== null) add(parseTcpTable(tcp6, 'tcp6'))
  if (unix !== null) add(parseUnixTable(unix))
  return out
}

/** Socket inodes held open by a process (null when its fd table is not readable). */
export async function readSocketInodes (pid: number): Promise<number[] | null> {
  const fds = await readDirProc(`/proc/${pid}/fd`)
  if (fds === null) return null
  const links = await mapLimit(fds, 32, (fd) => readLinkProc(`/proc/${pid}/fd/${fd}`))
  const out: number[] = []
  for (const l of links) {
    const m = l === null ? null : /^socket:\[(\d+)\]$/.exec(l)
    if (m?.[1] !== undefined) out.push(Number(m[1]))
  }
  return out
}
