/**
 * CPU pinning: the server's whole process tree and the load generator on disjoint CPU sets, so that
 * on a small machine they do not steal each other's cores (and the generator is not slowed by the
 * very server it measures).
 *
 * - The server is started through `taskset -c SERVER_CPUS` (util-linux): taskset sets the affinity
 *   and execs the server, so its pid is the server's and every process or thread it starts later
 *   (fork children, cluster workers, worker threads) inherits the mask.
 * - The generator is this process: `taskset -a -p -c LOAD_CPUS <pid>` sets every thread of it;
 *   threads and processes it starts later (load worker threads, a native engine) inherit the mask.
 *   The runner restores the original mask at the end of a suite.
 *
 * Node has no sched_setaffinity of its own; taskset is the OS tool for it. Where it is missing (or
 * there is a single CPU) the run goes on unpinned and the results say so.
 */
import { execFileSync } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { Pinning } from '@echoplex/results'
import type { ServerSpec } from './server.js'

/** `auto` (the default): split the usable CPUs; `none`: no pinning; or explicit sets. */
export type PinChoice = 'auto' | 'none' | { server: number[], load: number[] }

/** The CPU sets a run uses, or null when it is not pinned. */
export interface PinPlan {
  server: number[]
  load: number[]
  /** the taskset binary */
  taskset: string
}

/** `0-2,5` → [0, 1, 2, 5] (sorted, unique); throws a RangeError on anything else. */
export function parseCpuList (text: string): number[] {
  const out = new Set<number>()
  const s = text.trim()
  if (s === '') throw new RangeError('empty CPU list')
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim())
    if (m === null) throw new RangeError(`bad CPU list "${text}" (expected e.g. 0 or 0-1 or 0,2)`)
    const a = Number(m[1])
    const b = m[2] === undefined ? a : Number(m[2])
    if (b < a || b - a > 4096) throw new RangeError(`bad CPU range "${part}"`)
    for (let i = a; i <= b; i++) out.add(i)
  }
  return [...out].sort((x, y) => x - y)
}

/** [0, 1, 2, 5] → `0-2,5` */
export function formatCpuList (cpus: readonly number[]): string {
  const xs = [...new Set(cpus)].sort((a, b) => a - b)
  const parts: string[] = []
  for (let i = 0; i < xs.length;) {
    let j = i
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++
    parts.push(i === j ? String(xs[i]) : `${xs[i]}-${xs[j]}`)
    i = j + 1
  }
  return parts.join(',')
}

/** `--pin` values: `auto`, `none`, or `SERVER_CPUS:LOAD_CPUS` (e.g. `0:1`, `0-1:2-3`). Throws a RangeError. */
export function parsePinChoice (value: string): PinChoice {
  const v = value.trim()
  if (v === 'auto') return 'auto'
  if (v === 'none' || v === 'off') return 'none'
  const m = /^([^:]+):([^:]+)$/.exec(v)
  if (m === null) throw new RangeError('expected auto, none, or SERVER_CPUS:LOAD_CPUS (e.g. 0:1 or 0-1:2-3)')
  const server = parseCpuList(m[1]!)
  const load = parseCpuList(m[2]!)
  if (server.some((c) => load.includes(c))) throw new RangeError(`the server's and the load generator's CPUs overlap (${formatCpuList(server)} and ${formatCpuList(load)})`)
  return { server, load }
}

/** The CPUs process `pid` may run on (`Cpus_allowed_list` of /proc/PID/status), null when unreadable. */
export function allowedCpus (pid: number | 'self' = 'self'): number[] | null {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : parseCpuList(m[1]!)
  } catch {
    return null
  }
}

/** The `taskset` executable on PATH, or null. */
export function findTaskset (path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    const p = join(dir, 'taskset')
    try { accessSync(p, constants.X_OK); return p } catch { /* next */ }
  }
  return null
}

/**
 * Decides the CPU sets. `auto` with n ≥ 2 usable CPUs gives the server the first ⌈n/2⌉ and the
 * generator the rest (2 CPUs: server 0, generator 1). Explicit sets must be usable by this process.
 */
export function planPinning (choice: PinChoice, usable: readonly number[] | null, taskset: string | null): { plan: PinPlan | null, record: Pinning } {
  const off = (mode: Pinning['mode'], note: string | null): { plan: null, record: Pinning } =>
    ({ plan: null, record: { mode, serverCpus: null, loadCpus: null, method: null, note } })
  if (choice === 'none') return off('off', 'pinning turned off (--pin none): the server and the load generator share every CPU')
  if (process.platform !== 'linux') return off('unavailable', `CPU pinning needs Linux (this is ${process.platform}): not pinned`)
  if (taskset === null) return off('unavailable', 'taskset (util-linux) not found on PATH: not pinned')
  if (usable === null) return off('unavailable', 'the usable CPUs could not be read (/proc/self/status): not pinned')
  if (choice === 'auto') {
    if (usable.length < 2) return off('unavailable', `only ${usable.length} usable CPU: the server and the load generator share it`)
    const n = Math.ceil(usable.length / 2)
    const server = usable.slice(0, n)
    const load = usable.slice(n)
    return { plan: { server, load, taskset }, record: { mode: 'auto', serverCpus: formatCpuList(server), loadCpus: formatCpuList(load), method: 'taskset', note: null } }
  }
  const missing = [...choice.server, ...choice.load].filter((c) => !usable.includes(c))
  if (missing.length > 0) {
    return off('unavailable', `CPU(s) ${formatCpuList(missing)} not usable here (usable: ${formatCpuList(usable)}): not pinned`)
  }
  return {
    plan: { server: choice.server, load: choice.load, taskset },
    record: { mode: 'manual', serverCpus: formatCpuList(choice.server), loadCpus: formatCpuList(choice.load), method: 'taskset', note: null },
  }
}

/**
 * What pinning takes from multi-worker targets: a cluster or pool with more workers than the server
 * tree has CPUs runs them all on those CPUs (2 cores: one), so the run cannot show their parallelism.
 * Null when no target has more workers than that.
 */
export function pinningCapNote (plan: PinPlan | null, targets: ReadonlyArray<{ label: string, workers: number | null }>): string | null {
  if (plan === null) return null
  const cpus = plan.server.length
  const capped = [...new Map(targets.filter((x) => x.workers !== null && x.workers > cpus).map((x) => [x.label, x.workers])).entries()]
  if (capped.length === 0) return null
  const which = capped.map(([label, workers]) => `${label} (${workers} workers)`).join(', ')
  return `the server tree is pinned to ${cpus === 1 ? 'CPU' : `${cpus} CPUs`} ${formatCpuList(plan.server)}: ${which} ran on ${cpus === 1 ? 'it' : 'them'}, so what more CPUs would give ${capped.length === 1 ? 'it' : 'them'} is not measured here; --pin none lets every CPU be used, shared with the load generator`
}

/** The server's command line run through `taskset -c CPUS` (taskset execs it: same pid). */
export function pinnedServerSpec (spec: ServerSpec, plan: PinPlan | null): ServerSpec {
  if (plan === null) return spec
  return { ...spec, command: plan.taskset, args: ['-c', formatCpuList(plan.server), spec.command, ...spec.args] }
}

/** Sets the affinity of every thread of process `pid` (default: this one). Throws with taskset's message. */
export function setProcessAffinity (cpus: readonly number[], taskset: string, pid = process.pid): void {
  try {
    execFileSync(taskset, ['-a', '-p', '-c', formatCpuList(cpus), String(pid)], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim()
    throw new Error(`taskset could not pin pid ${pid} to ${formatCpuList(cpus)}${err === undefined || err === '' ? '' : `: ${err.split('\n')[0]}`}`)
  }
}

/**
 * Pins this process (the load generator) to the plan's load CPUs; returns a function that restores
 * the mask it had. With no plan: nothing to do.
 */
export function pinLoadGenerator (plan: PinPlan | null): () => void {
  if (plan === null) return () => {}
  const before = allowedCpus('self')
  setProcessAffinity(plan.load, plan.taskset)
  return () => {
    if (before === null) return
    try { setProcessAffinity(before, plan.taskset) } catch { /* the process is ending anyway */ }
  }
}
