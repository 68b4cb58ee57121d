import type { ConnectionCounters, ProxyProtocolOptions, ServerLimits } from '@echoplex/core'

export const MODEL_NAMES = ['event-loop', 'cluster', 'fork', 'pool'] as const
export type ModelName = typeof MODEL_NAMES[number]

/** Where a server listens: TCP host/port, or a UNIX socket path. */
export type ListenTarget = { host: string, port: number } | { path: string }

export interface ServeOptions {
  /** Absolute path of the handler module (see resolveHandlerPath). */
  handlerPath: string
  listen: ListenTarget
  limits: ServerLimits
  /** cluster: processes; pool: threads. */
  workers?: number
  /** cluster: Node's scheduling policy. */
  sched?: 'rr' | 'none'
  /** fork: most connection children alive at once; more connections wait in the accept queue. */
  maxChildren?: number
  /** fork: warm children kept ready. */
  spares?: number
  /** pool: most tasks queued for the pool before reading from sockets pauses. */
  maxQueue?: number
  /** cluster/pool/fork: a worker silent for this long is considered stuck and replaced. */
  heartbeatMs?: number
  /** Every connection opens with a PROXY protocol v1/v2 header from an allowed balancer; ctx shows the client it names. */
  proxyProtocol?: ProxyProtocolOptions
  /**
   * Called when the model cannot go on after it started (a crash loop, a worker that can no longer
   * boot). The caller stops the model and exits non-zero with the error's one line.
   */
  onFatal?: (err: Error) => void
}

export interface ModelStats extends ConnectionCounters {
  model: ModelName
  pid: number
  uptimeMs: number
  /** Model-specific figures: workers alive, respawns, spawn waits… */
  extra: Record<string, unknown>
}

export interface StopResult {
  /** Connections that were still open when the grace period ended and were closed by force. */
  forced: number
}

/**
 * One way of serving connections. Every model implements exactly this, in a file of its own under
 * models/, and serves the same handler files unchanged.
 */
export interface ConcurrencyModel {
  readonly name: ModelName
  /** Binds, starts whatever processes/threads the model needs, resolves once ready to serve. */
  start (): Promise<string>
  /** The formatted listening address (`127.0.0.1:7000`, `[::1]:7000`, `unix:/path`), once started. */
  address (): string | undefined
  stats (): Promise<ModelStats>
  /**
   * Graceful stop: stop accepting, answer messages already received, close connections, stop every
   * process/thread; past `graceMs` close what is left.
   */
  stop (graceMs?: number): Promise<StopResult>
  /**
   * Rolling restart (SIGHUP), where the model has workers to replace: each is replaced by a fresh
   * one that is serving before the old one drains, so no request fails. Resolves with the count replaced.
   */
  restart? (): Promise<number>
}
