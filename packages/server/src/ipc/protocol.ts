import type { ConnectionCounters, ProxyProtocolOptions, ServerLimits, SharedOp } from '@echoplex/core'
import type { ListenTarget } from '../model.js'

/**
 * What a primary and its child processes (cluster workers, fork children) say to each other over the
 * IPC channel, each message tagged by `type`. Requests carry an `id` and are answered by a `reply`
 * of the same id (see Peer). Channels use `serialization: 'advanced'`, so Buffers cross as bytes.
 */
export type ChildToPrimary =
  | { type: 'ready', address?: string }
  | { type: 'boot-failed', error: string, code?: string }
  | { type: 'broadcast', from: string, data: Uint8Array }
  /** request: one shared-store operation, applied by the primary; the reply carries its result */
  | { type: 'shared', id: number, op: SharedOp }
  | { type: 'serving', connection: string }
  | { type: 'heartbeat' }
  | { type: 'bye', counters: ConnectionCounters | undefined, forced: number }
  /** request, a child's very last: answered after everything the primary sent before it (see ChildRuntime.sendAndExit) */
  | { type: 'farewell', id: number }
  /** a fork child with reuse finished its connection and takes the next one (`served` so far) */
  | { type: 'idle', served: number }
  /** over a recycling limit: this child takes no new connections, finishes its own, and exits */
  | { type: 'recycle', reason: RecycleReason, served: number }
  /** cluster with reuseport: the socket this worker bound rides along (the primary keeps a copy: see PortShares) */
  | { type: 'port-share' }

export type PrimaryToChild =
  | { type: 'broadcast', from: string, data: Uint8Array }
  /** request: the child's connection counters (the reply's value) */
  | { type: 'stats', id: number }
  | { type: 'shutdown', graceMs: number }
  /** a connection's socket rides along as the message's handle (fork); `preread`: what the primary read while it waited */
  | { type: 'socket', acceptedAt: number, preread?: Uint8Array }
  /** an idle fork child is not needed: it takes no new connection and leaves once the one it may have just accepted closed */
  | { type: 'retire' }
  /**
   * the primary is stopping with connections still waiting (fork with reuse, hand-off): this child drains
   * the connection it serves and every one handed to it from now on (answers what was received, then
   * closes), and says `idle` after each, to take the next waiting one without a boot of its own. After
   * `graceMs` it stops as with `shutdown`. A child that is not needed is then sent SIGTERM.
   */
  | { type: 'drain', graceMs: number }
  /** fork with kernel accept: an idle child stops accepting for now (it stays warm) or starts again */
  | { type: 'accepting', on: boolean }
  /** cluster with reuseport: the socket of the worker this one replaces rides along, to listen on (ChildConfig.portShare) */
  | { type: 'port-share' }

/** Why a child was recycled: it served --connections-per-child, --max-requests, or grew past --max-memory. */
export type RecycleReason = 'connections' | 'requests' | 'memory'

/** When a child is replaced by a fresh one (gunicorn max_requests + jitter, PM2 max_memory_restart). 0: never. */
export interface RecyclePolicy {
  maxRequests: number
  /** each child's request limit is maxRequests plus a random 0…jitter, so children do not all recycle at once */
  maxRequestsJitter: number
  maxMemoryBytes: number
}

/** What a child needs to serve, passed in its environment (it is JSON, and children inherit env). */
export interface ChildConfig {
  model: 'cluster' | 'fork'
  handlerPath: string
  limits: ServerLimits
  /** cluster workers listen themselves (cluster shares the handle); fork children receive sockets. */
  listen?: ListenTarget
  /** cluster with `--sched reuseport`: each worker binds its own socket on the port (SO_REUSEPORT). */
  reusePort?: boolean
  /** with reusePort: this worker takes over a socket already in the port's group (a `port-share` message brings it) instead of binding one */
  portShare?: boolean
  heartbeatMs: number
  /** fork: connections a child serves, one at a time, before it exits (1: strict, 0: no limit) */
  connectionsPerChild?: number
  recycle?: RecyclePolicy
  /** the handler is this built-in: a bundled child entry uses its own copy instead of importing the file */
  builtinHandler?: string
  /** `serve --proxy-protocol`: the child reads each connection's header itself. */
  proxyProtocol?: ProxyProtocolOptions
  /**
   * fork with `--accept kernel`: the addon to load, the listening socket's descriptor in this process,
   * and the scoreboard's (its descriptor, its size in slots, and this child's slot)
   */
  kernelAccept?: { addon: string, fd: number, board: number, slots: number, slot: number }
  /** strict fork from a zygote: this process is the zygote, and forks its children through this addon (fork-zygote-run.ts) */
  zygote?: { addon: string }
}

/** What the primary asks of a zygote: fork a child for the connection whose socket rides along. */
export type PrimaryToZygote =
  | { type: 'fork', id: number, acceptedAt: number, preread?: Uint8Array }

/** What a zygote tells the primary. `forked`: the control socket of the child's channel rides along. */
export type ZygoteToPrimary =
  | { type: 'ready' }
  | { type: 'boot-failed', error: string, code?: string }
  | { type: 'forked', id: number, pid: number }
  | { type: 'fork-failed', id: number, error: string }
  /** a child ended: its exit code, or the signal that ended it */
  | { type: 'reaped', pid: number, code: number | null, signal: NodeJS.Signals | null }

export const CHILD_CONFIG_ENV = 'ECHOPLEX_CHILD_CONFIG'

/** This child's config, from its environment (empty where none was given). */
export function readChildConfig (): ChildConfig {
  return JSON.parse(process.env[CHILD_CONFIG_ENV] ?? '{}') as ChildConfig
}
/** How a child dies with its primary: `kernel` (started through setpriv) or `prctl:<ppid>:<addon>` (it sets that itself; see ipc/parent-death.ts). */
export const PARENT_DEATH_ENV = 'ECHOPLEX_PARENT_DEATH'

/** Set for the check that a fork child's new startup snapshot starts (fork-snapshot.ts): the child only answers, on stdout. */
export const SNAPSHOT_PROBE_ENV = 'ECHOPLEX_SNAPSHOT_PROBE'
export const SNAPSHOT_PROBE_ANSWER = 'echoplex fork child snapshot ok\n'
