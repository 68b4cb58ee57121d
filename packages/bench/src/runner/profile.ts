/**
 * CPU profiles of the serving processes (`echoplex bench --profile`).
 *
 * A Node server is started with V8's `--cpu-prof --cpu-prof-dir=DIR` on its command line (Node 20
 * refuses them in NODE_OPTIONS). Node hands its own flags (process.execArgv) to every child it
 * forks (fork model children, cluster workers) and to every worker thread (pool), so each process
 * and thread writes its own `.cpuprofile` into DIR when it exits — file names say the pid and the
 * thread (`CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`, thread 0 = the main thread).
 *
 * After the server stopped, the files are listed and merged into one flame tree stored in the
 * results (pruned to frames with at least 0.2 % of the samples, so a results file stays small and
 * the report needs no profile file to draw it): the first level says where the samples ran
 * (the primary, its worker threads, child processes), below it the merged call stacks.
 * `(idle)` samples (waiting in the event loop) are not CPU time and are left out.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { FlameNode, ProfileFile, ProfileRecord, ScenarioConfig } from '@echoplex/results'
import type { ServerSpec } from './server.js'
import { REPO_ROOT } from './environment.js'

/** V8 profile file names: CPU.20261128.191229.28274.0.001.cpuprofile */
const PROFILE_NAME = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/

/** Frames with fewer samples than this share of all are pruned from the stored flame tree. */
export const MIN_FLAME_SHARE = 0.002
const MAX_DEPTH = 80

/** `<root>/<scenario id>/rep-<n>` (the id made safe for a file name), created. */
export function profileDirFor (root: string, sc: Pick<ScenarioConfig, 'id'>, repetition: number): string {
  const dir = join(root, sc.id.replace(/[^A-Za-z0-9._-]+/g, '_'), `rep-${repetition}`)
  mkdirSync(dir, { recursive: true })
  return dir
}

/**
 * The server's command line with V8's CPU profiler on, or null when the server is not a Node
 * process (a C or Python peer: nothing to profile this way).
 */
export function profiledServerSpec (spec: ServerSpec, dir: string): ServerSpec | null {
  if (spec.command !== process.execPath) return null
  return { ...spec, args: ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...spec.args] }
}

interface CpuProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}

interface CpuProfile { nodes: CpuProfileNode[], samples?: number[] }

/** Where a frame is: `file:line`, paths inside the repository relative to it, '' for V8's own frames. */
function whereOf (url: string, line: number): string {
  if (url === '') return ''
  let u = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url
  if (u.startsWith(REPO_ROOT)) u = u.slice(REPO_ROOT.length)
  const nm = u.lastIndexOf('node_modules/')
  if (nm >= 0) u = u.slice(nm)
  return line >= 0 ? `${u}:${line + 1}` : u
}

function nameOf (f: CpuProfileNode['callFrame']): string {
  return f.functionName === '' ? '(anonymous)' : f.functionName
}

function newNode (name: string, where: string): FlameNode {
  return { name, where, total: 0, self: 0, children: [] }
}

function childOf (parent: FlameNode, name: string, where: string): FlameNode {
  let c = parent.children.find((x) => x.name === name && x.where === where)
  if (c === undefined) { c = newNode(name, where); parent.children.push(c) }
  return c
}

/**
 * Adds one V8 profile's samples under `into` (merging frames by name and place). Self samples come
 * from `samples` when present (exact), else from `hitCount`. Returns the samples added.
 */
export function addProfile (into: FlameNode, profile: CpuProfile): number {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  if (Array.isArray(profile.samples) && profile.samples.length > 0) {
    for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + 1)
  } else {
    for (const n of profile.nodes) if ((n.hitCount ?? 0) > 0) self.set(n.id, n.hitCount!)
  }
  const childIds = new Set(profile.nodes.flatMap((n) => n.children ?? []))
  const roots = profile.nodes.filter((n) => !childIds.has(n.id))
  let added = 0
  // V8's "(root)" frame is skipped; frames deeper than MAX_DEPTH collapse into the deepest one kept
  const walk = (n: CpuProfileNode, parent: FlameNode, depth: number): number => {
    const name = nameOf(n.callFrame)
    if (name === '(idle)') return 0
    const fresh = name !== '(root)' && depth < MAX_DEPTH
    const here = fresh ? childOf(parent, name, whereOf(n.callFrame.url, n.callFrame.lineNumber)) : parent
    const own = self.get(n.id) ?? 0
    here.self += own
    let total = own
    for (const id of n.children ?? []) {
      const c = byId.get(id)
      if (c !== undefined) total += walk(c, here, fresh ? depth + 1 : depth)
    }
    if (fresh) here.total += total
    return total
  }
  for (const r of roots) added += walk(r, into, 0)
  into.total += added
  return added
}

/** Drops frames under `minSamples`, children sorted by samples (largest first). */
export function pruneFlame (n: FlameNode, minSamples: number): FlameNode {
  const children = n.children.filter((c) => c.total >= minSamples).map((c) => pruneFlame(c, minSamples))
  children.sort((a, b) => b.total - a.total || (a.name < b.name ? -1 : 1))
  return { ...n, children }
}

/** Which part of the server a profile file is: the primary's main thread, its worker threads, a child process, a child's worker thread. */
export function roleOf (pid: number | null, thread: number | null, serverPid: number | null): string {
  const primary = pid !== null && pid === serverPid
  const worker = (thread ?? 0) > 0
  if (primary) return worker ? 'primary worker threads' : 'primary'
  return worker ? 'child worker threads' : 'child processes'
}

/** Lists the profile files of `dir` and merges them into a flame tree. `resultsDir`: `dir` is recorded relative to it. */
export function collectProfile (dir: string, resultsDir: string | null, serverPid: number | null): ProfileRecord {
  const files: ProfileFile[] = []
  let names: string[] = []
  try { names = readdirSync(dir).filter((n) => n.endsWith('.cpuprofile')).sort() } catch { /* none written */ }
  const root = newNode('all', '')
  const unreadable: string[] = []
  for (const file of names) {
    const m = PROFILE_NAME.exec(file)
    const pid = m === null ? null : Number(m[1])
    const thread = m === null ? null : Number(m[2])
    const role = roleOf(pid, thread, serverPid)
    let bytes = 0
    try { bytes = statSync(join(dir, file)).size } catch { /* gone */ }
    files.push({ file, pid, thread, bytes, role })
    try {
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
      if (!Array.isArray(profile.nodes)) throw new Error('no nodes')
      addProfile(childOf(root, role, ''), profile)
    } catch {
      // a process killed while writing leaves a truncated file: counted, not merged
      unreadable.push(file)
    }
  }
  root.total = root.children.reduce((n, c) => n + c.total, 0)
  const notes: string[] = []
  if (names.length === 0) notes.push('no profile was written (a server stopped by SIGKILL writes none)')
  if (unreadable.length > 0) notes.push(`${unreadable.length} profile file(s) unreadable (truncated?): ${unreadable.slice(0, 3).join(', ')}`)
  return {
    dir: resultsDir === null ? dir : relative(resultsDir, dir),
    files,
    flame: root.total === 0 ? null : pruneFlame(root, Math.max(1, Math.ceil(root.total * MIN_FLAME_SHARE))),
    note: notes.length === 0 ? null : notes.join('; '),
  }
}
