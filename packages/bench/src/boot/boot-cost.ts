/**
 * What a process boot costs on this machine, measured against itself: the CPU a bare `node -e 0`
 * takes, the CPU a fork child takes to boot (to `ready`, and exit), and how many bare `node -e 0`
 * this machine boots per second at a given concurrency — the ceiling for strict fork churn, which
 * pays a boot per connection. CPU is read from this process's cutime + cstime (/proc/self/stat):
 * the CPU of the children it has reaped, so nothing else may spawn meanwhile.
 */
import { fork, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { DEFAULT_LIMITS } from '@echoplex/core'
import { procSysConf } from '@echoplex/proc'
import { FORK_CHILD_ENTRY, childForkOptions, forkChildEnvironment, resolveHandlerPath } from '@echoplex/server'

export interface BootCost {
  node: string
  runs: number
  /** the child entry booted (the bundled one when built) */
  entry: string
  /** mean CPU (user + system) of one bare `node -e 0`, ms */
  bareCpuMs: number
  /** mean CPU of one fork child, boot to ready and exit, ms */
  childCpuMs: number
  /** childCpuMs ÷ bareCpuMs */
  ratio: number
  bareWallMs: number
  childWallMs: number
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

async function bareBoot (): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' })
    child.once('error', reject)
    child.once('exit', () => resolve())
  })
}

async function childBoot (env: Record<string, string>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = fork(FORK_CHILD_ENTRY, [], childForkOptions(env))
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
 * Boots `runs` bare nodes and `runs` fork children (echo handler), interleaved in rounds so both see
 * the same machine, and compares their CPU.
 */
export async function measureBootCost ({ runs = 20, handler = 'echo' }: { runs?: number, handler?: string } = {}): Promise<BootCost> {
  const env = forkChildEnvironment({ handlerPath: resolveHandlerPath(handler), limits: DEFAULT_LIMITS, heartbeatMs: 0 })
  await bareBoot() // warm the file cache for both
  await childBoot(env)
  const rounds = Math.min(runs, 4)
  const each = Math.ceil(runs / rounds)
  let bareCpu = 0; let childCpu = 0; let bareWall = 0; let childWall = 0
  for (let r = 0; r < rounds; r++) {
    const b = await perBoot(each, bareBoot)
    const c = await perBoot(each, async () => await childBoot(env))
    bareCpu += b.cpuMs / rounds; bareWall += b.wallMs / rounds
    childCpu += c.cpuMs / rounds; childWall += c.wallMs / rounds
  }
  const round = (n: number): number => Math.round(n * 100) / 100
  return {
    node: process.version,
    runs: rounds * each,
    entry: FORK_CHILD_ENTRY,
    bareCpuMs: round(bareCpu),
    childCpuMs: round(childCpu),
    ratio: round(childCpu / bareCpu),
    bareWallMs: round(bareWall),
    childWallMs: round(childWall),
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
