import { constants } from 'node:os'
import { loadKernelAccept } from '../sources/kernel-accept.js'
import { watchParentFromThread } from './orphan-watchdog.js'
import { PARENT_DEATH_ENV } from './protocol.js'

/**
 * Makes this child die with its primary even when its event loop is blocked, the way the primary
 * chose (PARENT_DEATH_ENV, see spawner.ts): `kernel`, setpriv set PR_SET_PDEATHSIG before it exec'd
 * node; `prctl:<ppid>:<addon>`, the child sets it itself through the fork addon (one exec fewer per
 * child) and, if its parent is no longer <ppid> by then (it died first), exits at once; else, or if
 * that fails, a watchdog thread (orphan-watchdog.ts).
 */
export function dieWithParent (): void {
  const how = process.env[PARENT_DEATH_ENV] ?? ''
  if (how === 'kernel') return
  const prctl = /^prctl:(\d+):(.+)$/.exec(how)
  if (prctl !== null) {
    try {
      const ppid = loadKernelAccept(prctl[2]!).parentDeath(constants.signals.SIGKILL)
      if (ppid === Number(prctl[1])) return
      if (ppid > 0) process.exit(0)
    } catch {}
  }
  watchParentFromThread()
}
