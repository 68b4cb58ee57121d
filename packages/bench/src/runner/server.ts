/**
 * Starting and stopping the server under test: its own process group (detached), a clean
 * environment (nothing of a test runner's NODE_OPTIONS), its `listening` line awaited with a
 * timeout, a graceful stop (SIGTERM, then SIGKILL to the whole group), and a /proc check that
 * nothing of the group is left. Every group started here is also killed when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { EchoplexError, entryOptions, errors } from '@echoplex/core'
import { parseListeningLine, tcpHostPort } from '@echoplex/server'
import { scanAllStats } from '@echoplex/proc'
import type { ExitStatus, StopInfo } from '@echoplex/results'
import { REPO_ROOT } from './environment.js'

/** packages/cli/bin/echoplex.js of this repository (same from src/ and dist/). */
export const ECHOPLEX_BIN = fileURLToPath(new URL('../../../cli/bin/echoplex.js', import.meta.url))

/**
 * The environment for a server under test: the runner's own, minus whatever a test runner or a
 * TypeScript loader put there (NODE_OPTIONS hooks would ride into the server and every child of it,
 * and measure and alter what we measure).
 */
export function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key === 'NODE_CHANNEL_FD' || key === 'NODE_UNIQUE_ID' ||
      key.startsWith('TAP') || key.startsWith('_TAPJS') || key.startsWith('TS_NODE') || key.startsWith('ECHOPLEX_')) continue
    env[key] = value
  }
  return { ...env, ...extra }
}

export interface ServerSpec {
  command: string
  args: string[]
  env?: Record<string, string>
  cwd?: string
}

/** A server that did not come up (exit, error, timeout, abort, a bad first line): EPX_LAUNCH_FAILED. */
export class LaunchError extends EchoplexError {
  override name = 'LaunchError'
  constructor (message: string, readonly stderrTail: string) {
    super(errors.LAUNCH_FAILED.code, message, entryOptions(errors.LAUNCH_FAILED))
  }
}

const active = new Set<number>()
let exitHookInstalled = false

function killGroup (pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  // never 0 or negative: kill(-0) would signal our own process group
  if (!Number.isInteger(pid) || pid <= 1) return
  try { process.kill(-pid, signal) } catch { /* gone */ }
}

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // whatever ends this process (an uncaught error, process.exit), no server group outlives it
  process.on('exit', () => { for (const pid of active) killGroup(pid) })
}

/** Kills every server group this process started and has not stopped yet (for signal handlers). */
export function killAllServers (): void {
  for (const pid of active) killGroup(pid)
}

/** Pids (not zombies) whose process group is `pgid`. */
export async function groupMembers (pgid: number): Promise<number[]> {
  const out: number[] = []
  for (const st of (await scanAllStats()).values()) {
    if (st.pgid === pgid && st.state !== 'Z' && st.state !== 'X') out.push(st.pid)
  }
  return out
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits for `p` at most `ms` (the timer is cleared either way, so it never holds the process open). */
function within (p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    p.then(() => { clearTimeout(timer); resolve() }, () => { clearTimeout(timer); resolve() })
  })
}

export class RunningServer {
  readonly startedAt = Date.now()
  /** the listening line's address (`127.0.0.1:PORT`, `[::1]:PORT` or a socket path) */
  address = ''
  host = '127.0.0.1'
  port = 0
  /** the pid the listening line names (the server's root process) */
  pid = 0
  model = ''
  line = ''
  /** spawn → listening line, ms */
  startMs = 0
  readonly exited: Promise<ExitStatus>
  private exitStatus: ExitStatus | null = null
  private stopping = false
  private out = ''
  private err = ''

  constructor (readonly child: ChildProcess, readonly label: string) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal }
        if (child.pid !== undefined) active.delete(child.pid)
        resolve(this.exitStatus)
      })
    })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { this.err = (this.err + d).slice(-16384) })
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { this.out = (this.out + d).slice(-16384) })
  }

  /** the group id (the spawned process's pid) */
  get pgid (): number { return this.child.pid ?? 0 }
  /** null while it runs */
  get exit (): ExitStatus | null { return this.exitStatus }
  /** exited without being asked to */
  get died (): boolean { return this.exitStatus !== null && !this.stopping }
  stdout (): string { return this.out }
  /** the last lines it wrote to stderr (at most 16 KiB) */
  stderr (): string { return this.err }
  /** the last non-empty stderr line, for one-line reasons */
  lastError (): string {
    const lines = this.err.trim().split('\n').map((l) => l.trim()).filter((l) => l !== '')
    return lines[lines.length - 1] ?? ''
  }

  /** Waits for the listening line. Rejects with a LaunchError (after killing the group) on exit, error, timeout or abort. */
  async ready (timeoutMs: number, signal?: AbortSignal): Promise<this> {
    const child = this.child
    const line = await new Promise<string>((resolve, reject) => {
      let buf = ''
      const cleanup = (): void => {
        clearTimeout(timer)
        child.off('error', onError)
        child.off('exit', onExit)
        child.stdout?.off('data', onData)
        signal?.removeEventListener('abort', onAbort)
      }
      const fail = (why: string): void => {
        cleanup()
        this.stopping = true
        killGroup(this.pgid)
        reject(new LaunchError(why, this.err))
      }
      const onError = (e: Error): void => fail(`could not start: ${e.message}`)
      const onExit = (code: number | null, sig: string | null): void => {
        // let the stderr pipe deliver its last words first
        setImmediate(() => {
          const why = this.lastError()
          fail(`exited (${code ?? sig}) before listening${why === '' ? '' : `: ${why}`}`)
        })
      }
      const onAbort = (): void => fail('interrupted while starting')
      const onData = (d: string): void => {
        buf += d
        const i = buf.indexOf('\n')
        if (i < 0) return
        cleanup()
        resolve(buf.slice(0, i).trim())
      }
      const timer = setTimeout(() => fail(`no listening line within ${timeoutMs} ms${this.lastError() === '' ? '' : `: ${this.lastError()}`}`), timeoutMs)
      if (signal?.aborted === true) { onAbort(); return }
      signal?.addEventListener('abort', onAbort, { once: true })
      child.once('error', onError)
      child.once('exit', onExit)
      child.stdout?.on('data', onData)
    })
    const listening = parseListeningLine(line)
    if (listening === null) {
      this.stopping = true
      killGroup(this.pgid)
      throw new LaunchError(`unexpected first line: ${line.slice(0, 200)}`, this.err)
    }
    this.line = line
    this.address = listening.address
    this.model = listening.model
    this.pid = listening.pid
    const tcp = tcpHostPort(this.address)
    if (tcp !== null) {
      this.host = tcp.host
      this.port = tcp.port
    }
    this.startMs = Date.now() - this.startedAt
    return this
  }

  /**
   * Graceful stop: SIGTERM to the server, up to `graceMs` for it to exit, then SIGKILL to its group;
   * finally anything still alive in the group is reported and killed.
   */
  async stop (graceMs = 5000): Promise<StopInfo> {
    this.stopping = true
    const t0 = Date.now()
    let killed = false
    if (this.child.pid === undefined) {
      // it never started (spawn error): nothing to stop
      return { code: null, signal: null, killed: false, stopMs: 0, leftover: [] }
    }
    if (this.exitStatus === null) {
      try { this.child.kill('SIGTERM') } catch { /* gone */ }
      const timer = setTimeout(() => { killed = true; killGroup(this.pgid) }, graceMs)
      await within(this.exited, graceMs + 5000)
      clearTimeout(timer)
      if (this.exitStatus === null) {
        killed = true
        killGroup(this.pgid)
        await within(this.exited, 5000)
      }
    }
    const stopMs = Date.now() - t0
    // children reparented after the server exited are still in its group
    let leftover = await groupMembers(this.pgid)
    if (leftover.length > 0) {
      await sleep(200) // children noticing their lost parent exit on their own
      leftover = await groupMembers(this.pgid)
    }
    killGroup(this.pgid)
    active.delete(this.pgid)
    const st = this.exitStatus ?? { code: null, signal: 'SIGKILL' }
    return { code: st.code, signal: st.signal, killed, stopMs, leftover }
  }

  /** Kills the group now (interrupts, failures). */
  kill (): void {
    this.stopping = true
    killGroup(this.pgid)
  }
}

/** Spawns a server (detached: its own process group) with a clean environment. Call `.ready()` next. */
export function spawnServer (spec: ServerSpec, label: string): RunningServer {
  installExitHook()
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd ?? REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(spec.env),
  })
  if (child.pid !== undefined) active.add(child.pid)
  // an 'error' (e.g. ENOENT) must never be unhandled; ready() reports it
  child.on('error', () => {})
  return new RunningServer(child, label)
}
