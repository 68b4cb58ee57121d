/**
 * Processes the rig starts inside its namespaces (`ip netns exec` execs the command, so the pid is the
 * command's own). Each runs in its own process group; every group still alive is SIGKILLed when the
 * rig exits, however it exits.
 */
import { spawn } from 'node:child_process'

const live = new Set()

/** SIGKILLs every process group the rig started and that has not exited. Synchronous. */
export function killAll () {
  let n = 0
  for (const p of live) {
    try { process.kill(-p.pid, 'SIGKILL'); n++ } catch {}
  }
  live.clear()
  return n
}

/** A process in network namespace `ns`; its stdout and stderr are kept (the last 64 KiB of each). */
export class NsProcess {
  constructor (ns, command, args, { env } = {}) {
    this.ns = ns
    this.child = spawn('ip', ['netns', 'exec', ns, command, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env })
    this.pid = this.child.pid
    this.out = ''
    this.err = ''
    this.listeners = new Set()
    this.child.stdout.setEncoding('utf8').on('data', (d) => { this.out = (this.out + d).slice(-65536); for (const f of this.listeners) f() })
    this.child.stderr.setEncoding('utf8').on('data', (d) => { this.err = (this.err + d).slice(-65536); for (const f of this.listeners) f() })
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => { live.delete(this); for (const f of this.listeners) f(); resolve(code ?? signal) }))
    this.exitStatus = undefined
    void this.exited.then((s) => { this.exitStatus = s })
    live.add(this)
  }

  get running () { return this.exitStatus === undefined }

  /** Resolves with the first match of `pattern` in stdout (checked on every chunk); rejects on exit or timeout. */
  async waitFor (pattern, timeoutMs, what = String(pattern)) {
    return await new Promise((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(this.out)
        if (m !== null) { done(); resolve(m); return }
        if (!this.running) { done(); reject(new Error(`${what}: the process exited (${this.exitStatus}): ${this.err.trim().split('\n').pop() ?? ''}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`${what}: not within ${timeoutMs} ms`)) }, timeoutMs)
      const done = () => { clearTimeout(timer); this.listeners.delete(check) }
      this.listeners.add(check)
      check()
    })
  }

  signal (name) {
    if (this.running) { try { process.kill(this.pid, name) } catch {} }
  }

  /** SIGTERM, then SIGKILL to the whole group after `graceMs`; resolves with the exit status. */
  async stop (graceMs = 5000) {
    if (this.running) this.signal('SIGTERM')
    const timer = setTimeout(() => { try { process.kill(-this.pid, 'SIGKILL') } catch {} }, graceMs)
    const status = await this.exited
    clearTimeout(timer)
    // nothing of its group may outlive it
    try { process.kill(-this.pid, 'SIGKILL') } catch {}
    return status
  }
}
