/**
 * What a repetition's measurements mean, shared by servers the runner starts and external targets:
 * the idle footprint of a process tree, figures derived from load + samples, and the problems that
 * fail a repetition.
 */
import { readProcessTree } from '@echoplex/proc'
import type { Derived, IdleSample, Repetition, ScenarioConfig } from '@echoplex/results'

/** A repetition before anything happened: `server` says what serves it (its command, or the external address). */
export function newRepetition (repetition: number, startedAtMs: number, server: { command: string[], pid: number | null, address: string | null }): Repetition {
  return {
    repetition,
    status: 'ok',
    problems: [],
    warnings: [],
    startedAt: new Date(startedAtMs).toISOString(),
    wallMs: 0,
    server: { ...server, pgid: null, startMs: null, died: false, stop: null, stderrTail: '' },
    idle: null,
    load: null,
    tree: null,
    window: null,
    derived: null,
    round: repetition,
    timeline: null,
    profile: null,
  }
}

/** The process tree of `pid` at rest: processes, threads, RSS and PSS summed. */
export async function idleSample (pid: number): Promise<IdleSample | null> {
  const tree = await readProcessTree(pid, { pss: true, connections: false, roles: false, threadCtxSwitches: false })
  if (tree.processes.length === 0) return null
  let threads = 0
  let rss = 0
  let pss = 0
  let anyPss = false
  for (const p of tree.processes) {
    threads += p.threads
    rss += p.rssBytes
    if (p.pssBytes !== null) { pss += p.pssBytes; anyPss = true }
  }
  return { processes: tree.processes.length, threads, rssBytes: rss, pssBytes: anyPss ? pss : null }
}

/** `loadCpus`: CPUs the generator is pinned to (null: not pinned) — a pinned generator saturates when they are all busy, whichever of its threads does the work. */
export function derive (sc: ScenarioConfig, rep: Repetition, loadCpus: number | null = null): Derived | null {
  const { load, window: w, idle } = rep
  if (load === null) return null
  const rps = load.throughput.requestsPerSec
  const cores = w === null ? 0 : w.cpuPercent / 100
  const perConn = (under: number | undefined, before: number | null | undefined): number | null =>
    sc.mode !== 'keep-alive' || under === undefined || before === null || before === undefined
      ? null
      : Math.round((under - before) / sc.connections)
  const c = load.connectLatency
  const gen = load.generator.loadThreads?.percentOfOneCore ?? load.generator.process.percentOfOneCore
  return {
    requestsPerCpuSec: cores > 0 ? Math.round(rps / cores * 100) / 100 : null,
    serverCpuPercent: w === null ? null : w.cpuPercent,
    rssPerConnectionBytes: perConn(w?.rssBytes.mean, idle?.rssBytes),
    pssPerConnectionBytes: perConn(w?.pssBytes?.mean, idle?.pssBytes),
    connectToFirstByteMs: c === null || c.count === 0 ? null : { count: c.count, mean: c.mean, p50: c.p50, p99: c.p99, max: c.max },
    generatorCpuPercent: gen,
    generatorSaturated: gen >= 90 * Math.max(1, load.generator.threads) ||
      (loadCpus !== null && load.generator.process.percentOfOneCore >= 90 * loadCpus),
  }
}

/** Records what the load says is wrong (mismatches, errors, an early end, nothing completed) and the derived figures (`loadCpus`: see derive). */
export function judgeLoad (sc: ScenarioConfig, rep: Repetition, loadCpus: number | null = null): void {
  const l = rep.load
  if (l === null) return
  if (l.aborted !== null && l.requests.sent === 0) {
    // the connect phase failed: its one line says why (what came back, or that nothing did)
    rep.problems.push(`load ended early: ${l.aborted}`)
    return
  }
  if (l.mismatches > 0) {
    const first = l.firstMismatch === undefined ? '' : ` (first: ${l.firstMismatch})`
    const hint = sc.workload.expect === 'script' ? '' : `; a handler that is not ${sc.workload.expect === 'echo' ? 'an echo' : `"${sc.workload.expect}"`} needs a load script (--load-script)`
    rep.problems.push(`${l.mismatches} mismatched repl${l.mismatches === 1 ? 'y' : 'ies'}${first}${sc.loadTool === 'tcp' ? hint : ''}`)
  }
  if (l.errors.total > 0) {
    const kinds = Object.entries(l.errors.byKind).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')
    rep.problems.push(`${l.errors.total} error(s)${kinds === '' ? '' : ` (${kinds})`}`)
  }
  if (l.aborted !== null) rep.problems.push(`load ended early: ${l.aborted}`)
  if (l.requests.completed === 0) rep.problems.push('no request completed')
  rep.derived = derive(sc, rep, loadCpus)
  if (rep.derived?.generatorSaturated === true) {
    rep.warnings.push(`the load generator used ${rep.derived.generatorCpuPercent}% of a core per thread: it may have been the bottleneck`)
  }
}
