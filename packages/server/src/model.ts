import type { ConnectionCounters, ProxyProtocolOptions, ServerLimits } from '@echoplex/core'

/** A model's name as the registry knows it (`event-loop`, `cluster`, … or a model loaded by path). */
export type ModelName = string

/** Where a server listens: TCP host/port, or a UNIX socket path. */
export type ListenTarget = { host: string, port: number } | { path: string }

export interface ServeOptions {
  /** Absolute path of the handler module (see resolveHandlerPath). */
  handlerPath: string
  listen: ListenTarget
  limits: ServerLimits
  /** cluster: processes; pool: threads. */
  workers?: number
  /** cluster: who spreads connections over the workers (default: reuseport where this Node supports it, else rr). */
  sched?: 'rr' | 'none' | 'reuseport'
  /** fork: most connection children alive at once; more connections wait in the accept queue. */
  maxChildren?: number
  /** fork: a connection waiting this long for a child is closed (0: never). */
  waitTimeoutMs?: number
  /** fork: warm children kept ready (with reuse: the fewest idle children; httpd MinSpareServers). */
  spares?: number
  /** fork with reuse: idle children above this many retire, one a second (httpd MaxSpareServers). */
  maxSpares?: number
  /** fork: children started before serving (httpd StartServers; default: --spares, at least 1). */
  startChildren?: number
  /** fork: connections a child serves, one at a time, before it exits (1: strict, the default; 0: no limit). */
  connectionsPerChild?: number
  /**
   * fork: who accepts. `handoff`: the primary accepts and hands each socket to an idle child over IPC;
   * `kernel`: idle children take their connections from the listening socket they inherited, the
   * kernel waking one waiting child per connection (httpd prefork); `auto`: kernel where its addon builds and
   * the server listens on TCP, else handoff. Default: handoff.
   */
  accept?: 'handoff' | 'kernel' | 'auto'
  /**
   * fork: how a child starts. `zygote` (strict fork): a fork() of one warm process with the handler
   * loaded; `snapshot`: a V8 startup snapshot of the bundled child (built on first use for the running
   * Node, kept); `bundle`: the bundled child script; `auto` (default): zygote for strict fork where it
   * can be, else snapshot where it builds.
   */
  childBoot?: 'zygote' | 'snapshot' | 'bundle' | 'auto'
  /** cluster/fork: a worker that handled this many requests (messages) is replaced (0: never). */
  maxRequests?: number
  /** cluster/fork: each worker's request limit is --max-requests plus a random 0…this. */
  maxRequestsJitter?: number
  /** cluster/fork: a worker whose resident memory passes this many bytes is replaced (0: never). */
  maxMemory?: number
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

/**
 * A `serve` option a model takes beyond the common ones. Models that share a flag (`--workers` for
 * cluster and pool) declare it each; the CLI shows it once, with each model's description.
 */
export interface ModelOption {
  /** commander flags, e.g. `-w, --workers <n>` */
  flags: string
  /** the ServeOptions field it fills */
  key: keyof ServeOptions
  /** what it means for this model (the CLI prefixes the model's name) */
  description: string
  /** how its text is read (the CLI turns a bad value into one line naming the flag) */
  value: OptionValue
  default?: unknown
  /** how the default reads in --help, when it is computed (e.g. "number of cores") */
  defaultDescription?: string
}

export type OptionValue =
  | { kind: 'integer', min: number, max: number }
  | { kind: 'duration' }
  | { kind: 'size' }
  | { kind: 'choice', choices: readonly string[] }

/** Target sizing a benchmark passes to `serve` (see @echoplex/bench's suites). */
export interface BenchSizing {
  workers: number | null
  spares: number | null
}

/** What the conformance and fault suites need to know about a model; nothing else in the tests asks its name. */
export interface SuiteTraits {
  /** `serve` flags the conformance suite adds (small enough for a 2-core CI machine) */
  conformanceArgs: readonly string[]
  /** `serve` flags the fault suite adds */
  faultArgs: readonly string[]
  /** the fault suite's --max-connections (its floods are twice this); default 40 */
  faultMaxConnections?: number
  /** clients in the fault suite's reset storm; default 100 */
  faultStormSize?: number
  /** true once the server is whole again between fault cases (workers back, no queue); default: always */
  settled?: (stats: ModelStats) => boolean
  /** what a handler calling process.exit does to this model */
  onHandlerExit: string
  /** what a handler that never returns does; null when the model cannot pre-empt it (all connections stall) */
  onStuckHandler: string | null
  /** a process role whose SIGKILL under load the model survives, and what follows */
  killable?: { role: string, what: string, outcome: string }
  /** connections of other clients may share a process that a handler fault ends (they reconnect) */
  sharesProcessesAcrossConnections: boolean
  /** connections dropped while they waited for a process because the client had left, read from the model's stats; absent: nothing waits */
  droppedWhileWaiting?: (stats: ModelStats) => number
  /** workers, children or tasks killed so far for missing the heartbeat, read from the model's stats; absent: no heartbeat */
  heartbeatKills?: (stats: ModelStats) => number
  /** Ways of serving the suites also run, each by name (`conformance(model, variant)`), e.g. cluster's `--sched reuseport`. */
  variants?: readonly SuiteVariant[]
}

/** A variant of a model the suites run: the model with some `serve` flags. */
export interface SuiteVariant {
  name: string
  args: readonly string[]
  /** Why it cannot run with this Node or on this machine (then the suite checks it is refused in one line); undefined: it can. */
  unavailable?: () => Promise<string | undefined>
}

/**
 * Everything echoplex knows about a model, in one place (gunicorn's SUPPORTED_WORKERS, with a class
 * loadable by path): the CLI, bench, dashboard, `ps`, report and tests read it from the registry.
 * A module that default-exports one can be passed as `--model PATH`.
 */
export interface ModelDescriptor {
  name: ModelName
  /** one line: how it serves */
  summary: string
  /** builds the model (import heavy parts here, so listing models stays cheap) */
  create: (options: ServeOptions) => Promise<ConcurrencyModel>
  /** `serve` options it takes beyond the common ones */
  options: readonly ModelOption[]
  /** roles its processes show in `ps` (process titles `echoplex <role>`), the root first */
  roles: readonly string[]
  /** SIGHUP replaces its workers one by one (rolling restart) */
  rollingRestart: boolean
  bench: {
    /** the suite's `workers` applies (processes or threads) */
    workers: boolean
    /** the suite's `spares` applies */
    spares: boolean
    /** extra `serve` flags for a benchmark target serving `connections` concurrent clients */
    serveArgs?: (sizing: BenchSizing, connections: number) => string[]
  }
  suites: SuiteTraits
}

/** Identity, typed: `export default defineModel({ … })`. */
export function defineModel (descriptor: ModelDescriptor): ModelDescriptor {
  return descriptor
}
