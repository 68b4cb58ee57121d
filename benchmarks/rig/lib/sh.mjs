/** Running the system tools the rig drives (ip, haproxy): synchronous, so teardown can run in an exit hook. */
import { execFileSync } from 'node:child_process'

/** Runs a command; throws with its stderr's first line when it fails. */
export function run (command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const why = String(err.stderr ?? err.message).trim().split('\n')[0]
    throw new Error(`${command} ${args.join(' ')}: ${why}`)
  }
}

/** Like run, but a failure is ignored (teardown of something that may already be gone). */
export function tryRun (command, args) {
  try { return run(command, args) } catch { return null }
}

/** True when `command` is on the PATH. */
export function have (command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
