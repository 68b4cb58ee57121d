import { Worker } from 'node:worker_threads'

/** How often the watchdog thread looks whether the parent is still ours. */
const POLL_MS = 200

/**
 * The thread's whole program: when this process's parent changes (the primary died and we were
 * re-parented to init or a subreaper), SIGKILL the process, whatever its main thread is doing.
 */
const WATCHDOG = `
const { workerData } = require('node:worker_threads')
setInterval(() => { if (process.ppid !== workerData.ppid) process.kill(workerData.pid, 'SIGKILL') }, workerData.pollMs)
`

/**
 * A child's own guard against outliving its primary when its event loop is blocked (a handler in an
 * endless loop never sees the IPC channel close): a worker thread polls the parent pid and kills the
 * process once it changed (within POLL_MS). Used where setpriv's PDEATHSIG is not available. What it
 * cannot do: act while the process is SIGSTOPped (no thread runs); such a child ends only once it is
 * continued. (The kernel's SIGHUP+SIGCONT to a newly orphaned process group does not apply: the
 * primary leads its own session, so its group was never tied to a parent's.) Only PDEATHSIG covers that.
 */
export function watchParentFromThread (): void {
  const thread = new Worker(WATCHDOG, { eval: true, workerData: { ppid: process.ppid, pid: process.pid, pollMs: POLL_MS }, stdout: true, stderr: false, resourceLimits: { maxOldGenerationSizeMb: 8 } })
  thread.unref()
  thread.on('error', () => {}) // a watchdog that failed to start leaves the 'disconnect' path, as before
}
