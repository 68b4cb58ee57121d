import { readFileSync } from 'node:fs'
import { readProcessTree } from '../../../proc/src/index.js'

export { readProcessTree, countZombies } from '../../../proc/src/index.js'

/** Pids of the server's tree (root excluded) with the given role. */
export async function pidsWithRole (rootPid: number, role: string): Promise<number[]> {
  const tree = await readProcessTree(rootPid, { pss: false, connections: false })
  return tree.processes.filter((p) => p.pid !== rootPid && p.role === role).map((p) => p.pid)
}

/**
 * The zombies under `rootPid` that are still zombies `ms` later. A child that has just exited is a
 * zombie until its parent's next loop turn takes its SIGCHLD, and a worker recycled as a load ended
 * exits a moment after the load: a count of zero at one instant proves nothing, and a zombie seen
 * once is no fault. One that stays a zombie is.
 */
export async function lingeringZombies (rootPid: number, ms = 1500): Promise<number[]> {
  const zombies = async (): Promise<number[]> => (await readProcessTree(rootPid, { pss: false, connections: false })).processes
    .filter((p) => p.pid !== rootPid && p.state === 'Z').map((p) => p.pid)
  const before = await zombies()
  if (before.length === 0) return []
  await new Promise((resolve) => setTimeout(resolve, ms))
  const after = new Set(await zombies())
  return before.filter((pid) => after.has(pid))
}

/** Which of `pids` still run (neither gone nor zombies); works after their parent is gone. */
export function alive (pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0)
      // a zombie still answers kill(0): look at its state
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
    } catch {
      return false
    }
  })
}

export async function waitFor (predicate: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
