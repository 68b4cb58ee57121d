import type { ConnectionCounters, ServerLimits, SharedOp } from '@echoplex/core'
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

export type PrimaryToChild =
  | { type: 'broadcast', from: string, data: Uint8Array }
  /** request: the child's connection counters (the reply's value) */
  | { type: 'stats', id: number }
  | { type: 'shutdown', graceMs: number }
  /** a connection's socket rides along as the message's handle (fork); `preread`: what the primary read while it waited */
  | { type: 'socket', acceptedAt: number, preread?: Uint8Array }

/** What a child needs to serve, passed in its environment (it is JSON, and children inherit env). */
export interface ChildConfig {
  model: 'cluster' | 'fork'
  handlerPath: string
  limits: ServerLimits
  /** cluster workers listen themselves (cluster shares the handle); fork children receive sockets. */
  listen?: ListenTarget
  heartbeatMs: number
}

export const CHILD_CONFIG_ENV = 'ECHOPLEX_CHILD_CONFIG'
