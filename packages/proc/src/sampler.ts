/**
 * Samples a server's whole process tree a few times a second while a benchmark runs and sums it up:
 * processes, threads, RSS/PSS, CPU seconds, context switches, zombies, plus a compact time series.
 *
 * CPU accounting over the window: each process (pid + start time) contributes the growth of its
 * own utime/stime since it was first seen (a process born during the window counts from 0). For
 * processes that exit between samples, the part after their last sample is recovered from their
 * parent's cutime/cstime, which grows by the child's full total when the parent reaps it: the
 * growth not explained by the last-seen totals of children that vanished is added — this also
 * catches short-lived children that were born and reaped between two samples (fork model).
 */
import { readProcessTree, type ProcessInfo, type ProcessTree } from './tree.js'

export interface SamplerOptions {
  /** default 250 */
  intervalMs?: number
  /** read PSS each sample; default true */
  pss?: boolean
  /** count connections each sample (fd scan); default false */
  connections?: boolean
  /** sum context switches over all threads; default true */
  threadCtxSwitches?: boolean
  /** the series is halved (pairs merged) whenever it grows beyond this; default 1200 */
  maxSeriesPoints?: number
  /** called after every sample (e.g. to stream to a dashboard) */
  onSample?: (point: SamplePoint, tree: ProcessTree) => void
}

export interface SamplePoint {
  /** ms since the sampler started */
  t: number
  processes: number
  threads: number
  rssBytes: number
  /** CPU % of the whole tree since the previous sample (100 = one core) */
  cpuPercent: number
  zombies: number
}

export interface Stat {
  max: number
  mean: number
}

export interface SamplerSummary {
  rootPid: number
  intervalMs: number
  /** ISO time of the first sample */
  startedAt: string
  durationMs: number
  /** samples that found the root alive */
  samples: number
  /** the root process was gone at the end (or disappeared during the window) */
  rootExited: boolean
  processes: Stat & { /** distinct processes seen */ seen: number, /** of those, gone before the end */ exited: number }
  threads: Stat
  rssBytes: Stat
  /** null when PSS was not readable/asked for */
  pssBytes: Stat | null
  cpu: {
    userSec: number
    systemSec: number
    totalSec: number
    /** totalSec over the window, % of one core */
    meanPercent: number
    maxPercent: number
    /** part of the totals recovered from parents' cutime/cstime (exited children) */
    fromExitedSec: number
  }
  ctxSwitches: { voluntary: number, involuntary: number }
  zombies: { max: number }
  /** only when options.connections */
  connections: Stat | null
  series: SamplePoint[]
}

export interface Sampler {
  /** stops sampling (after a last sample) and returns the summary */
  stop (): Promise<SamplerSummary>
  /** summary so far, without stopping */
  summary (): SamplerSummary
  readonly samples: number
}

interface Seen {
  pid: number
  ppid: number
  user: number
  sys: number
  cuser: number
  csys: number
  vol: number | null
  invol: number | null
}

class Acc {
  max = 0
  sum = 0
  n = 0
  add (v: number): void { if (v > this.max) this.max = v; this.sum += v; this.n++ }
  stat (): Stat { return { max: this.max, mean: this.n === 0 ? 0 : this.sum / this.n } }
}

const keyOf = (p: ProcessInfo): string => `${p.pid}:${p.startTicks}`

export function startSampler (rootPid: number, options: SamplerOptions = {}): Sampler {
  const intervalMs = Math.max(10, options.intervalMs ?? 250)
  const maxPoints = Math.max(16, options.maxSeriesPoints ?? 1200)
  const readOpts = {
    pss: options.pss ?? true,
    connections: options.connections ?? false,
    threadCtxSwitches: options.threadCtxSwitches ?? true,
    roles: false,
  }
  const t0 = Date.now()
  let firstAt: number | null = null
  let lastAt: number | null = null
  let samples = 0
  let rootExited = false
  let stopped = false
  let timer: NodeJS.Timeout | null = null
  let inflight: Promise<void> | null = null
  let prev: Map<string, Seen> | null = null
  const everSeen = new Set<string>()
  const procs = new Acc()
  const threads = new Acc()
  const rss = new Acc()
  const pss = new Acc()
  let pssSeen = false
  const conns = new Acc()
  let cpuUser = 0
  let cpuSys = 0
  let fromExited = 0
  let maxPercent = 0
  let vol = 0
  let invol = 0
  let maxZombies = 0
  let series: SamplePoint[] = []

  const record = (tree: ProcessTree): void => {
    const at = tree.readAtMs
    if (tree.processes.length === 0) {
      rootExited = true
      return
    }
    const cur = new Map<string, Seen>()
    let dUser = 0
    let dSys = 0
    let nThreads = 0
    let nRss = 0
    let nPss = 0
    let anyPss = false
    let zombies = 0
    let nConns = 0
    for (const p of tree.processes) {
      const k = keyOf(p)
      everSeen.add(k)
      const s: Seen = {
        pid: p.pid,
        ppid: p.ppid,
        user: p.cpuUserSec,
        sys: p.cpuSystemSec,
        cuser: p.childrenCpuUserSec,
        csys: p.childrenCpuSystemSec,
        vol: p.voluntaryCtxSwitches,
        invol: p.involuntaryCtxSwitches,
      }
      cur.set(k, s)
      nThreads += p.threads
      nRss += p.rssBytes
      if (p.pssBytes !== null) { nPss += p.pssBytes; anyPss = true }
      if (p.state === 'Z' && p.pid !== rootPid) zombies++
      nConns += p.connections ?? 0
    }
    if (prev !== null) {
      // what vanished children had been seen to use, by parent pid
      const vanished = new Map<number, { user: number, sys: number }>()
      for (const [k, s] of prev) {
        if (cur.has(k)) continue
        const v = vanished.get(s.ppid) ?? { user: 0, sys: 0 }
        v.user += s.user + s.cuser
        v.sys += s.sys + s.csys
        vanished.set(s.ppid, v)
      }
      const zero: Seen = { pid: 0, ppid: 0, user: 0, sys: 0, cuser: 0, csys: 0, vol: 0, invol: 0 }
      for (const [k, s] of cur) {
        const base = prev.get(k) ?? zero // born during the window: everything counts
        dUser += Math.max(0, s.user - base.user)
        dSys += Math.max(0, s.sys - base.sys)
        const v = vanished.get(s.pid) ?? { user: 0, sys: 0 }
        const exUser = Math.max(0, (s.cuser - base.cuser) - v.user)
        const exSys = Math.max(0, (s.csys - base.csys) - v.sys)
        dUser += exUser
        dSys += exSys
        fromExited += exUser + exSys
        if (s.vol !== null) vol += Math.max(0, s.vol - (base.vol ?? 0))
        if (s.invol !== null) invol += Math.max(0, s.invol - (base.invol ?? 0))
      }
    }
    cpuUser += dUser
    cpuSys += dSys
    const dt = lastAt === null ? 0 : at - lastAt
    const cpuPercent = dt > 0 ? ((dUser + dSys) * 1000 / dt) * 100 : 0
    if (cpuPercent > maxPercent) maxPercent = cpuPercent
    prev = cur
    if (firstAt === null) firstAt = at
    lastAt = at
    samples++
    procs.add(tree.processes.length)
    threads.add(nThreads)
    rss.add(nRss)
    if (anyPss) { pss.add(nPss); pssSeen = true }
    if (readOpts.connections) conns.add(nConns)
    if (zombies > maxZombies) maxZombies = zombies
    const point: SamplePoint = { t: at - t0, processes: tree.processes.length, threads: nThreads, rssBytes: nRss, cpuPercent, zombies }
    series.push(point)
    if (series.length > maxPoints) series = halve(series)
    options.onSample?.(point, tree)
  }

  const sampleOnce = async (): Promise<void> => {
    try {
      record(await readProcessTree(rootPid, readOpts))
    } catch {
      // an unexpected /proc error: skip this sample rather than kill the benchmark
    }
  }

  const tick = (): void => {
    timer = null
    if (stopped) return
    const started = Date.now()
    inflight = sampleOnce().finally(() => {
      inflight = null
      if (stopped || rootExited) return
      const delay = Math.max(0, intervalMs - (Date.now() - started))
      timer = setTimeout(tick, delay)
      timer.unref()
    })
  }

  const summary = (): SamplerSummary => {
    const durationMs = firstAt === null || lastAt === null ? 0 : lastAt - firstAt
    const totalSec = cpuUser + cpuSys
    let exited = 0
    for (const k of everSeen) if (prev === null || !prev.has(k) || rootExited) exited++
    return {
      rootPid,
      intervalMs,
      startedAt: new Date(firstAt ?? t0).toISOString(),
      durationMs,
      samples,
      rootExited,
      processes: { ...procs.stat(), seen: everSeen.size, exited },
      threads: threads.stat(),
      rssBytes: rss.stat(),
      pssBytes: pssSeen ? pss.stat() : null,
      cpu: {
        userSec: cpuUser,
        systemSec: cpuSys,
        totalSec,
        meanPercent: durationMs > 0 ? (totalSec * 1000 / durationMs) * 100 : 0,
        maxPercent,
        fromExitedSec: fromExited,
      },
      ctxSwitches: { voluntary: vol, involuntary: invol },
      zombies: { max: maxZombies },
      connections: readOpts.connections ? conns.stat() : null,
      series: series.slice(),
    }
  }

  // first sample right away (the baseline)
  tick()

  return {
    async stop () {
      if (!stopped) {
        stopped = true
        if (timer !== null) { clearTimeout(timer); timer = null }
        if (inflight !== null) await inflight
        if (!rootExited) await sampleOnce()
      }
      return summary()
    },
    summary,
    get samples () { return samples },
  }
}

/** Merges neighbouring points pairwise (means, max for zombies). */
function halve (series: SamplePoint[]): SamplePoint[] {
  const out: SamplePoint[] = []
  for (let i = 0; i < series.length; i += 2) {
    const a = series[i] as SamplePoint
    const b = series[i + 1]
    if (b === undefined) { out.push(a); continue }
    out.push({
      t: b.t,
      processes: (a.processes + b.processes) / 2,
      threads: (a.threads + b.threads) / 2,
      rssBytes: Math.round((a.rssBytes + b.rssBytes) / 2),
      cpuPercent: (a.cpuPercent + b.cpuPercent) / 2,
      zombies: Math.max(a.zombies, b.zombies),
    })
  }
  return out
}
