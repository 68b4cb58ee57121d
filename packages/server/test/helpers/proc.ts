import { readFileSync } from 'node:fs'
import { readProcessTree } from '../../../proc/src/index.js'

export { readProcessTree, countZombies } from '../../../proc/src/index.js'

/** Pids of the server's tree (root excluded) with the given role. */
export async function pidsWithRole (rootPid: number, role: string): Promise<number[]> {
  const tree = await readProcessTree(rootPid, { pss: false, connections: false })
  return tree.processes.filter((p) => p.pid !== rootPid && p.role === role).map((p) => p.pid)
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
