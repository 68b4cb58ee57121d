/**
 * What a process boot costs on this machine, measured against itself: the CPU a bare `node -e 0`
 * takes, the CPU a fork child takes to boot (to `ready`, and exit; from its startup snapshot, and from
 * its entry), and how many bare `node -e 0` this machine boots per second at a given concurrency —
 * the ceiling for strict fork churn, which pays a boot per connection. CPU is read from this process's cutime + cstime (/proc/self/stat):
 * the CPU of the children it has reaped, so nothing else may spawn meanwhile.
 */
import { fork, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { DEFAULT_LIMITS } from '@echoplex/core'
import { procSysConf } from '@echoplex/proc'
import { FORK_CHILD_ENTRY, childForkOptions, forkChildEnvironment, forkChildStart, resolveHandlerPath, type ChildStart } from '@echoplex/server'

export interface BootCost {
  node: string
  runs: number
  /** the child entry booted (the bundled one when built) */
  entry: string
  /** mean CPU (user + system) of one bare `node -e 0`, ms */
  bareCpuMs: number
  /** mean CPU of one fork child booted as the fork model boots it by default (from its snapshot where there is one), boot to ready and exit, ms */
  childCpuMs: number
  /** childCpuMs ÷ bareCpuMs */
  ratio: number
  bareWallMs: number
  childWallMs: number
  /** what that child booted from: its startup snapshot, or the entry (`--child-boot bundle`) */
  childBoot: 'snapshot' | 'entry'
  /** the same child booted from the entry instead, when the default is the snapshot: what the snapshot saves */
  entryCpuMs: number | null
  entryRatio: number | null
  /** why there is no snapshot to boot from, when there is none */
  snapshotNote: string | null
  /**
   * When NODE_EXTRA_CA_CERTS is set (every boot above inherits it): a bare `node -e 0` without it.
   * Node before 22 parses that bundle at every start; both sides of each ratio pay it.
   */
  extraCaCerts: { path: string, bareCpuMs: number } | null
}

export interface BootRate {
  concurrency: number
  durationMs: number
  boots: number
  /** bare `node -e 0` started and reaped per second, `concurrency` at a time */
  perSec: number
}

/** CPU seconds of the reaped children of this process. */
function reapedCpuSec (): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  // after "pid (comm) ": state is field 0; cutime and cstime are fields 13 and 14
  return (Number(fields[13]) + Number(fields[14])) / procSysConf().clockTicks
}

async function bareBoot (env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env })
    child.once('error', reject)
    child.once('exit', () => resolve())
  })
}

async function childBoot (env: Record<string, string>, start: ChildStart): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = fork(FORK_CHILD_ENTRY, [], childForkOptions(env, start))
    child.once('error', reject)
    child.on('message', (m: { type?: string }) => {
      if (m.type === 'ready') child.send({ type: 'shutdown', graceMs: 0 })
      if (m.type === 'boot-failed') reject(new Error('the fork child could not boot'))
    })
    child.once('exit', () => resolve())
  })
}

/** Mean CPU and wall time per call of `boot`, over `runs` calls one after another. */
async function perBoot (runs: number, boot: () => Promise<void>): Promise<{ cpuMs: number, wallMs: number }> {
  const cpu = reapedCpuSec()
  const started = performance.now()
  for (let i = 0; i < runs; i++) await boot()
  return { cpuMs: (reapedCpuSec() - cpu) * 1000 / runs, wallMs: (performance.now() - started) / runs }
}

/**
 * Boots `runs` bare nodes and `runs` fork children (echo handler) — from the child's startup snapshot
 * as the fork model does by default, and from the entry too when there is a snapshot — interleaved in
 * rounds so all see the same machine, and compares their CPU.
 */
export async function measureBootCost ({ runs = 20, handler = 'echo' }: { runs?: number, handler?: string } = {}): Promise<BootCost> {
  const env = forkChildEnvironment({ handlerPath: resolveHandlerPath(handler), limits: DEFAULT_LIMITS, heartbeatMs: 0 })
  // as the fork model starts them (from the snapshot where there is one), and from the entry too
  const model = await forkChildStart(resolveHandlerPath(handler))
  const snapshot = model.boot === 'snapshot'
  const certs = process.env.NODE_EXTRA_CA_CERTS
  const withoutCerts = { ...process.env }
  delete withoutCerts.NODE_EXTRA_CA_CERTS
  const kinds: Array<{ name: 'bare' | 'child' | 'entry' | 'noCerts', boot: () => Promise<void> }> = [
    { name: 'bare', boot: async () => await bareBoot() },
    { name: 'child', boot: async () => await childBoot(env, model.start) },
    ...(snapshot ? [{ name: 'entry' as const, boot: async () => await childBoot(env, { parentDeathAddon: model.start.parentDeathAddon }) }] : []),
    ...(certs === undefined || certs === '' ? [] : [{ name: 'noCerts' as const, boot: async () => await bareBoot(withoutCerts) }]),
  ]
  for (const kind of kinds) await kind.boot() // warm the file cache for all
  const rounds = Math.min(runs, 4)
  const each = Math.ceil(runs / rounds)
  const cpu = { bare: 0, child: 0, entry: 0, noCerts: 0 }
  const wall = { bare: 0, child: 0, entry: 0, noCerts: 0 }
  for (let r = 0; r < rounds; r++) {
    for (const kind of kinds) {
      const m = await perBoot(each, kind.boot)
      cpu[kind.name] += m.cpuMs / rounds
      wall[kind.name] += m.wallMs / rounds
    }
  }
  const round = (n: number): number => Math.round(n * 100) / 100
  return {
    node: process.version,
    runs: rounds * each,
    entry: FORK_CHILD_ENTRY,
    bareCpuMs: round(cpu.bare),
    childCpuMs: round(cpu.child),
    ratio: round(cpu.child / cpu.bare),
    bareWallMs: round(wall.bare),
    childWallMs: round(wall.child),
    childBoot: snapshot ? 'snapshot' : 'entry',
    entryCpuMs: snapshot ? round(cpu.entry) : null,
    entryRatio: snapshot ? round(cpu.entry / cpu.bare) : null,
    snapshotNote: model.bootNote ?? null,
    extraCaCerts: certs === undefined || certs === '' ? null : { path: certs, bareCpuMs: round(cpu.noCerts) },
  }
}

/** Bare `node -e 0` boots per second, `concurrency` loops of spawn → exit for `durationMs`. */
export async function measureBootRate ({ concurrency = 16, durationMs = 3000 }: { concurrency?: number, durationMs?: number } = {}): Promise<BootRate> {
  const deadline = performance.now() + durationMs
  let boots = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      await bareBoot()
      boots++
    }
  }))
  const elapsed = performance.now() - started
  return { concurrency, durationMs: Math.round(elapsed), boots, perSec: Math.round(boots / elapsed * 1000 * 10) / 10 }
}
