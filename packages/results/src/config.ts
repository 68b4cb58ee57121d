/**
 * A suite as it ran (normalized, every default filled in) and the scenarios it expands into: what a
 * results file records next to the measurements. bench's suite loader produces these.
 */
import type { Framing } from '@echoplex/core'
import type { LoadTool } from './measures.js'

/**
 * What the reply to a request must be: the request itself, its ASCII upper-casing, the work digest, or
 * what the workload's load script says.
 */
export type ExpectKind = 'echo' | 'upper' | 'work' | 'script'

/** Connections kept open for many requests, or one connection per request. */
export type Mode = 'keep-alive' | 'churn'

/** A model, peer or external server as a suite runs it. */
export interface TargetConfig {
  /** external: a server echoplex did not start (`bench --target`, bench's runner/external.ts) */
  kind: 'model' | 'peer' | 'external'
  /** model or peer name; for an external target, its HOST:PORT */
  name: string
  /** unique name of this target in the suite (model name unless a label was given) */
  label: string
  /** cluster/pool: worker count; null for other targets */
  workers: number | null
  /** fork: warm spares; null for other targets */
  spares: number | null
  /** models: serve options the suite adds for this target (e.g. `--child-boot snapshot`), after the model's own */
  args?: string[]
  /** external targets only: where it listens, and its pid when it runs on this machine (sampled then) */
  external?: { host: string, port: number, pid: number | null }
  /** The Node it ran under when the run chose one (`bench --node`, a suite's `runtimes`); absent: the bench's own (environment.node). */
  runtime?: RuntimeConfig
}

/** A Node runtime targets run under: what was asked for, the version the binary reported, and the binary. */
export interface RuntimeConfig {
  /** as given: `current`, `24`, a path, each maybe followed by Node options (`24 --single-threaded-gc`) */
  spec: string
  /** what `node --version` printed, e.g. `v24.22.3` */
  node: string
  path: string
  /** Node/V8 options the servers ran with (before their script; a model's processes inherit them); absent: none */
  flags?: string[]
}

/** A workload with every default filled in. */
export interface WorkloadConfig {
  name: string
  /** built-in handler name, or an absolute path to a handler module */
  handler: string
  framing: Framing
  expect: ExpectKind
  /** absolute path of the load script that builds requests and checks replies (expect: 'script') */
  loadScript?: string
  options: Record<string, string>
  peers: boolean
  payloadBytes: number[]
  connections: number[]
  modes: Mode[]
  durationMs: number
  warmupMs: number
  pipeline: number
  /**
   * Also run one fixed-rate scenario (first payload size and connection count, keep-alive) at this
   * share of the slowest model's closed-loop req/s; null: none (schemaVersion 2; absent in older files)
   */
  fixedRate?: number | null
  /**
   * Before each measurement, load the server in 1 s steps until its rate is steady (the last three
   * within 10% of their mean, and at most 5% above the three before them), for at most this long; 0 or absent: only the fixed `warmupMs`
   * (schemaVersion 2). For servers that warm up slowly: a prefork child's JIT is its own.
   */
  steadyWarmupMs?: number
}

/** A suite with every default filled in: what was actually run (recorded in results). */
export interface SuiteConfig {
  name: string
  description: string
  /** where it came from: the file path */
  source: string | null
  repetitions: number
  loadThreads: number
  /** raw TCP generator engine asked for: auto (native where it can), node or native; each result's load.generator.engine says which ran */
  loadEngine: 'auto' | 'node' | 'native'
  models: TargetConfig[]
  /** servers echoplex did not start (`bench --target`); absent when none */
  external?: TargetConfig[]
  /** The Node runtimes models and Node peers ran under, each target once per runtime; absent: the bench's own. */
  runtimes?: RuntimeConfig[]
  /** names of the peers asked for (available or not) */
  peers: string[]
  workloads: WorkloadConfig[]
  startTimeoutMs: number
  stopTimeoutMs: number
  sampleIntervalMs: number
  idleSettleMs: number
}

/** One scenario of a suite: a target under one workload, payload size, connection count and mode. */
export interface ScenarioConfig {
  /** unique: `workload:target:payloadB:cN:mode` */
  id: string
  /** scenarios with the same group differ only in their target (for ratios to peers): `workload:payloadB:cN:mode` */
  group: string
  workload: WorkloadConfig
  target: TargetConfig
  payloadBytes: number
  connections: number
  mode: Mode
  pipeline: number
  durationMs: number
  warmupMs: number
  /** 'autocannon' for http framing, 'tcp' (the raw TCP load generator) otherwise */
  loadTool: LoadTool
  /**
   * A fixed-rate (open-loop) scenario: its rate is `fraction` of the lowest median req/s of the models
   * in the closed-loop group `of`, measured first; latency is corrected for coordinated omission.
   * Absent or null: a closed-loop scenario.
   */
  fixedRate?: FixedRate | null
}

export interface FixedRate {
  /** the closed-loop group the rate derives from */
  of: string
  /** of the slowest model's median req/s there */
  fraction: number
}
