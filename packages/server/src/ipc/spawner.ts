import cluster, { type Worker } from 'node:cluster'
import { fork, type ChildProcess } from 'node:child_process'
import { ipcChannel, type Channel } from './channel.js'

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
  /** Starts one child with `env` added to the primary's; rejects with ResourceError when the OS refuses. */
  spawn (env: Record<string, string>): Promise<Spawned>
}

/** cluster.fork() of `exec`: every worker can listen on the primary's shared handle. */
export function clusterSpawner (exec: string): Spawner {
  cluster.setupPrimary({ exec, serialization: 'advanced' })
  return {
    async spawn (env) {
      const worker: Worker = cluster.fork(env)
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

/**
 * child_process.fork() of `entry`: a child of its own, with stdout ignored and stderr shared.
 * `onError`: the child's 'error' events (a signal or a message that could not be delivered).
 */
export function processSpawner (entry: string, onError: (pid: number, err: Error) => void): Spawner {
  return {
    async spawn (env) {
      const proc: ChildProcess = fork(entry, [], {
        serialization: 'advanced',
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      })
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
