import cluster, { type Worker } from 'node:cluster'
import { execFileSync, fork, type ChildProcess, type ForkOptions } from 'node:child_process'
import type { Socket } from 'node:net'
import { ipcChannel, type Channel } from './channel.js'
import { PARENT_DEATH_ENV } from './protocol.js'

/** Set to 1 in the primary's environment to do without setpriv (children then watch their parent from a thread). */
export const NO_PDEATHSIG_ENV = 'ECHOPLEX_NO_PDEATHSIG'
const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv']

/**
 * How to start node so the kernel SIGKILLs it the moment its parent dies, whatever it is doing (a
 * handler looping, the process SIGSTOPped): util-linux's `setpriv --pdeathsig KILL` sets
 * prctl(PR_SET_PDEATHSIG) and execs node (same pid; the setting survives exec). Without setpriv
 * (not Linux, a minimal image) undefined: the child then watches its parent from a thread of its own.
 */
let wrapper: { execPath: string, execArgv: string[] } | undefined | null = null
export function parentDeathSignal (): { execPath: string, execArgv: string[] } | undefined {
  if (wrapper !== null) return wrapper
  wrapper = undefined
  if (process.platform !== 'linux' || process.env[NO_PDEATHSIG_ENV] === '1') return wrapper
  for (const path of SETPRIV_PATHS) {
    try {
      execFileSync(path, ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 5000 })
      wrapper = { execPath: path, execArgv: ['--pdeathsig', 'KILL', '--', process.execPath] }
      break
    } catch {}
  }
  return wrapper
}

/** The OS would not start a process now (EMFILE, EAGAIN): retried, never fatal. */
export class ResourceError extends Error {}

/** A child process as the arbiter supervises it, however it was started. */
export interface Spawned {
  readonly pid: number
  readonly channel: Channel
  /** True once the process has exited. */
  exited (): boolean
  kill (signal: NodeJS.Signals): void
  onExit (listener: (code: number | null, signal: NodeJS.Signals | null) => void): void
}

/**
 * How the arbiter starts a child: the strategy is the one thing cluster and fork differ in when it
 * comes to supervision (a cluster worker shares the primary's listening handle; a child_process child
 * is handed sockets one by one).
 */
export interface Spawner {
  /**
   * Starts one child with `env` added to the primary's; rejects with ResourceError when the OS refuses.
   * `carried`: a connection the child is started with (a zygote's child is born serving it).
   */
  spawn (env: Record<string, string>, carried?: Carried): Promise<Spawned>
}

/** A connection a child is started for, and what the primary knows of it (when accepted, what it read while it waited). */
export interface Carried {
  socket: Socket
  acceptedAt: number
  preread?: Uint8Array
}

/** cluster.fork() of `exec`: every worker can listen on the primary's shared handle. */
export function clusterSpawner (exec: string): Spawner {
  const death = parentDeathSignal()
  cluster.setupPrimary({ exec, serialization: 'advanced', execArgv: [...(death?.execArgv ?? []), ...process.execArgv] })
  return {
    async spawn (env) {
      const worker: Worker = forkWorker(death?.execPath, { ...env, ...(death === undefined ? {} : { [PARENT_DEATH_ENV]: 'kernel' }) })
      closeUnacceptedHandoffs(worker)
      return {
        pid: worker.process.pid!,
        channel: ipcChannel(worker),
        exited: () => worker.isDead(),
        kill: (signal) => { worker.process.kill(signal) },
        onExit: (listener) => { worker.once('exit', listener) },
      }
    },
  }
}

/** The TCP handle cluster's round-robin sends a worker with a `newconn` message. */
interface SentHandle { close: () => void }
interface ClusterMessage { cmd?: string, act?: string, seq?: number, ack?: number }

/**
 * Node's cluster round-robin hands each connection it accepts to a worker (`newconn`) and closes its
 * own copy when the worker acknowledges it; a worker that dies first never does, and the connection
 * stays open in the primary with no one to serve it: its client hangs. The hand-offs a worker has not
 * acknowledged are tracked, and closed when it exits (the client sees the close and can retry).
 */
function closeUnacceptedHandoffs (worker: Worker): void {
  const proc = worker.process as ChildProcess
  const pending = new Map<number, SentHandle>()
  const send = proc.send.bind(proc) as (...args: unknown[]) => boolean
  proc.send = ((message: ClusterMessage, handle?: unknown, ...rest: unknown[]) => {
    if (message?.cmd === 'NODE_CLUSTER' && message.act === 'newconn' && typeof message.seq === 'number' && handle !== undefined) {
      pending.set(message.seq, handle as SentHandle)
    }
    return send(message, handle, ...rest)
  }) as ChildProcess['send']
  proc.on('internalMessage', (message: ClusterMessage) => {
    if (message?.cmd === 'NODE_CLUSTER' && typeof message.ack === 'number') pending.delete(message.ack)
  })
  worker.once('exit', () => {
    for (const handle of pending.values()) {
      try { handle.close() } catch {}
    }
    pending.clear()
  })
}

/**
 * cluster.fork() with another executable: cluster has no execPath setting and forks process.execPath,
 * so it is swapped for the synchronous call (the wrapper then execs node itself).
 */
function forkWorker (execPath: string | undefined, env: Record<string, string>): Worker {
  if (execPath === undefined) return cluster.fork(env)
  const node = process.execPath
  process.execPath = execPath
  try {
    return cluster.fork(env)
  } finally {
    process.execPath = node
  }
}

/** What a fork child gets beyond its environment: descriptors from fd 4 on, and Node options (its startup snapshot). */
export interface ChildStart {
  inherit?: readonly number[]
  execArgv?: readonly string[]
  /**
   * The fork addon (native/kernel-accept.c): the child sets its parent-death signal itself through it
   * (ipc/parent-death.ts) instead of being started through setpriv, one exec fewer per child.
   */
  parentDeathAddon?: string
}

/** How a child is told to die with its primary (PARENT_DEATH_ENV), and the setpriv wrapper when that is the way. */
function parentDeath (addon: string | undefined): { env: Record<string, string>, wrapper?: { execPath: string, execArgv: string[] } } {
  if (addon !== undefined && process.platform === 'linux' && process.env[NO_PDEATHSIG_ENV] !== '1') return { env: { [PARENT_DEATH_ENV]: `prctl:${process.pid}:${addon}` } }
  const wrapper = parentDeathSignal()
  return wrapper === undefined ? { env: {} } : { env: { [PARENT_DEATH_ENV]: 'kernel' }, wrapper }
}

/**
 * The child_process.fork() options a fork child starts with: `env` over the primary's, `start.inherit`
 * from fd 4, `start.execArgv` after the primary's Node options, dying with its parent (it sets that
 * itself through `start.parentDeathAddon`, else it is started through setpriv where there is one),
 * stdout ignored, stderr shared. `echoplex boot-cost` starts children with
 * them too, so it measures the start the model pays.
 */
export function childForkOptions (env: Record<string, string>, start: ChildStart = {}): ForkOptions {
  const death = parentDeath(start.parentDeathAddon)
  const execArgv = [...process.execArgv, ...(start.execArgv ?? [])]
  return {
    serialization: 'advanced',
    env: { ...process.env, ...env, ...death.env },
    ...(death.wrapper === undefined ? { execArgv } : { execPath: death.wrapper.execPath, execArgv: [...death.wrapper.execArgv, ...execArgv] }),
    // descriptors the child inherits follow the channel: the first is its fd 4
    stdio: ['ignore', 'ignore', 'inherit', 'ipc', ...(start.inherit ?? [])],
  }
}

/**
 * child_process.fork() of `entry`: a child of its own, with stdout ignored and stderr shared.
 * `onError`: the child's 'error' events (a signal or a message that could not be delivered).
 * `start`: what each child gets beyond its environment (fork's kernel accept and startup snapshot).
 */
export function processSpawner (entry: string, onError: (pid: number, err: Error) => void, start: () => ChildStart = () => ({})): Spawner {
  return {
    async spawn (env) {
      const proc: ChildProcess = fork(entry, [], childForkOptions(env, start()))
      if (proc.pid === undefined) {
        // the OS refused (descriptors or processes exhausted): not the handler's fault, try again later
        const err = await new Promise<Error>((resolve) => proc.once('error', resolve))
        throw new ResourceError(err.message)
      }
      const pid = proc.pid
      proc.on('error', (err) => onError(pid, err))
      return {
        pid,
        channel: ipcChannel(proc),
        exited: () => proc.exitCode !== null || proc.signalCode !== null,
        kill: (signal) => { proc.kill(signal) },
        onExit: (listener) => { proc.once('exit', listener) },
      }
    },
  }
}
