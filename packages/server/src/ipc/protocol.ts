import type { ConnectionCounters, ProxyProtocolOptions, ServerLimits, SharedOp } from '@echoplex/core'
import type { ListenTarget } from '../model.js'

/**
 * What a primary and its child processes (cluster workers, fork children) say to each other over the
 * IPC channel. Channels use `serialization: 'advanced'`, so Buffers cross as bytes, not JSON arrays.
 */
export type ChildToPrimary =
  | { t: 'ready', address?: string }
  | { t: 'boot-failed', error: string, code?: string }
  | { t: 'broadcast', from: string, data: Uint8Array }
  | { t: 'shared', id: number, op: SharedOp }
  | { t: 'stats', id: number, counters: ConnectionCounters }
  | { t: 'serving', connection: string }
  | { t: 'heartbeat' }
  | { t: 'bye', counters: ConnectionCounters, forced: number }

export type PrimaryToChild =
  | { t: 'broadcast', from: string, data: Uint8Array }
  | { t: 'shared-result', id: number, ok: true, value: unknown }
  | { t: 'shared-result', id: number, ok: false, error: string }
  | { t: 'stats-request', id: number }
  | { t: 'shutdown', graceMs: number }
  | { t: 'socket', acceptedAt: number }

/** What a child needs to serve, passed in its environment (it is JSON, and children inherit env). */
export interface ChildConfig {
  model: 'cluster' | 'fork'
  handlerPath: string
  limits: ServerLimits
  /** cluster workers listen themselves (cluster shares the handle); fork children receive sockets. */
  listen?: ListenTarget
  heartbeatMs: number
  /** `serve --proxy-protocol`: the child reads each connection's header itself. */
  proxyProtocol?: ProxyProtocolOptions
}

export const CHILD_CONFIG_ENV = 'ECHOPLEX_CHILD_CONFIG'
