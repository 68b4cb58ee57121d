/**
 * The results file: versioned JSON (schemaVersion 1), its JSON Schema, reading (validated, one-line
 * errors), writing (atomic), per-scenario summaries across repetitions and ratios to peers.
 * Every field is documented in docs/RESULTS.md.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { SamplerSummary } from '../proc/sampler.js'
import type { Environment } from './environment.js'
import type { LoadSummary } from './load-summary.js'
import type { StopInfo } from './server.js'
import type { WindowStats } from './window.js'
import { spread, type Spread } from './stats.js'
import type { ScenarioConfig, SuiteConfig } from './suite.js'
import { RESULTS_DIR } from './suite.js'
import { checkSchema } from './validate.js'

export const RESULTS_SCHEMA_VERSION = 1

export type ScenarioStatus = 'ok' | 'failed' | 'skipped' | 'interrupted' | 'not-run'
export type RepetitionStatus = 'ok' | 'failed' | 'interrupted'

export interface IdleSample {
  processes: number
  threads: number
  rssBytes: number
  pssBytes: number | null
}

export interface ServerRecord {
  /** the command line that started it */
  command: string[]
  /** the pid its listening line named (null when it never listened) */
  pid: number | null
  /** its process group */
  pgid: number | null
  address: string | null
  /** spawn → listening line, ms */
  startMs: number | null
  /** exited during the run without being asked to */
  died: boolean
  /** how it stopped (null when it never started) */
  stop: StopInfo | null
  /** the last lines it wrote to stderr (at most 4 KiB) */
  stderrTail: string
}

export interface LatencyBrief { count: number, mean: number, p50: number, p99: number, max: number }

export interface Derived {
  /** completed requests per second of server CPU (all its processes and threads) */
  requestsPerCpuSec: number | null
  /** server CPU over the sampled window, % of one core */
  serverCpuPercent: number | null
  /** (mean RSS under load − idle RSS) / connections; keep-alive only */
  rssPerConnectionBytes: number | null
  /** same with PSS */
  pssPerConnectionBytes: number | null
  /** connect → first reply byte (raw TCP loads): for the fork model, the spawn wait */
  connectToFirstByteMs: LatencyBrief | null
  /** the generator's CPU, % of one core (its load threads when known, else its whole process) */
  generatorCpuPercent: number
  /** the generator kept its threads ≥ 90 % busy: it may have been the bottleneck */
  generatorSaturated: boolean
}

export interface Repetition {
  /** 1-based */
  repetition: number
  status: RepetitionStatus
  /** why it failed (empty when ok) */
  problems: string[]
  /** noteworthy but not failures (e.g. a forced stop) */
  warnings: string[]
  startedAt: string
  wallMs: number
  server: ServerRecord
  idle: IdleSample | null
  load: LoadSummary | null
  /** the server's process tree sampled over the whole load call (connect phase, warmup, measurement, drain) */
  tree: SamplerSummary | null
  /** the process tree over exactly the measured window (cut out of the samples) */
  window: WindowStats | null
  derived: Derived | null
}

export interface ScenarioMetrics {
  requestsPerSec: Spread | null
  latencyMeanMs: Spread | null
  latencyP50Ms: Spread | null
  latencyP90Ms: Spread | null
  latencyP99Ms: Spread | null
  latencyP999Ms: Spread | null
  serverCpuSec: Spread | null
  serverCpuPercent: Spread | null
  requestsPerCpuSec: Spread | null
  rssBytes: Spread | null
  pssBytes: Spread | null
  rssPerConnectionBytes: Spread | null
  pssPerConnectionBytes: Spread | null
  processes: Spread | null
  threads: Spread | null
  connectP50Ms: Spread | null
  connectP99Ms: Spread | null
  generatorCpuPercent: Spread | null
  mismatches: Spread | null
  errors: Spread | null
}

export interface PeerComparison {
  /** the fastest peer (highest median req/s) of the same group */
  peer: string
  peerScenario: string
  peerRequestsPerSec: number
  /** this scenario's median req/s ÷ the peer's */
  ratio: number
}

/** A scenario as configured, and what running it gave. */
export interface ScenarioResult extends ScenarioConfig {
  status: ScenarioStatus
  reason: string | null
  repetitions: Repetition[]
  /** median and spread across the repetitions that measured a load (null when none did) */
  summary: ScenarioMetrics | null
  comparison: PeerComparison | null
}

export interface PeerInfo {
  name: string
  framing: 'raw' | 'http'
  available: boolean
  note: string | null
}

export interface Results {
  schemaVersion: 1
  tool: { name: 'echoplex', version: string }
  suite: SuiteConfig
  environment: Environment
  startedAt: string
  finishedAt: string
  durationMs: number
  /** every scenario ran (false: interrupted, partial results) */
  complete: boolean
  /** what interrupted the run (e.g. SIGINT), else null */
  interrupted: string | null
  peers: PeerInfo[]
  notes: string[]
  scenarios: ScenarioResult[]
}

// ---------------------------------------------------------------- summaries

/** Medians and spread of one scenario's repetitions: those that measured a load and were not interrupted (failed ones count: a failure is shown, not hidden). */
export function summarizeRepetitions (reps: readonly Repetition[]): ScenarioMetrics | null {
  const m = reps.filter((r) => r.load !== null && r.status !== 'interrupted')
  if (m.length === 0) return null
  const of = (f: (r: Repetition) => number | null | undefined): Spread | null => spread(m.map(f))
  return {
    requestsPerSec: of((r) => r.load?.throughput.requestsPerSec),
    latencyMeanMs: of((r) => r.load?.latency.mean),
    latencyP50Ms: of((r) => r.load?.latency.p50),
    latencyP90Ms: of((r) => r.load?.latency.p90),
    latencyP99Ms: of((r) => r.load?.latency.p99),
    latencyP999Ms: of((r) => r.load?.latency.p999),
    serverCpuSec: of((r) => r.window?.cpuSec),
    serverCpuPercent: of((r) => r.window?.cpuPercent),
    requestsPerCpuSec: of((r) => r.derived?.requestsPerCpuSec),
    rssBytes: of((r) => r.window?.rssBytes.mean),
    pssBytes: of((r) => r.window?.pssBytes?.mean),
    rssPerConnectionBytes: of((r) => r.derived?.rssPerConnectionBytes),
    pssPerConnectionBytes: of((r) => r.derived?.pssPerConnectionBytes),
    processes: of((r) => r.window?.processes.max),
    threads: of((r) => r.window?.threads.max),
    connectP50Ms: of((r) => r.derived?.connectToFirstByteMs?.p50),
    connectP99Ms: of((r) => r.derived?.connectToFirstByteMs?.p99),
    generatorCpuPercent: of((r) => r.derived?.generatorCpuPercent),
    mismatches: of((r) => r.load?.mismatches),
    errors: of((r) => r.load?.errors.total),
  }
}

/** A scenario's status from its repetitions. */
export function scenarioStatus (reps: readonly Repetition[], planned: number): { status: ScenarioStatus, reason: string | null } {
  if (reps.length === 0) return { status: 'not-run', reason: null }
  const failed = reps.find((r) => r.status === 'failed')
  if (failed !== undefined) {
    const n = reps.filter((r) => r.status === 'failed').length
    return { status: 'failed', reason: `${n}/${reps.length} repetition(s) failed: ${failed.problems.join('; ')}` }
  }
  if (reps.some((r) => r.status === 'interrupted') || reps.length < planned) {
    return { status: 'interrupted', reason: `${reps.filter((r) => r.status === 'ok').length} of ${planned} repetition(s) completed before the run was interrupted` }
  }
  return { status: 'ok', reason: null }
}

/** Sets each scenario's comparison to the fastest ok peer of its group (by median req/s). */
export function comparePeers (scenarios: ScenarioResult[]): void {
  const best = new Map<string, ScenarioResult>()
  for (const s of scenarios) {
    if (s.target.kind !== 'peer' || s.status !== 'ok') continue
    const v = s.summary?.requestsPerSec?.median ?? 0
    const cur = best.get(s.group)
    if (v > 0 && (cur === undefined || v > (cur.summary?.requestsPerSec?.median ?? 0))) best.set(s.group, s)
  }
  for (const s of scenarios) {
    const b = best.get(s.group)
    const v = s.summary?.requestsPerSec?.median
    const pv = b?.summary?.requestsPerSec?.median
    s.comparison = b === undefined || v === undefined || pv === undefined || pv <= 0
      ? null
      : { peer: b.target.label, peerScenario: b.id, peerRequestsPerSec: pv, ratio: Math.round(v / pv * 10000) / 10000 }
  }
}

/** An empty scenario result for a scenario config. */
export function scenarioResult (c: ScenarioConfig): ScenarioResult {
  return {
    id: c.id,
    group: c.group,
    workload: c.workload,
    target: c.target,
    payloadBytes: c.payloadBytes,
    connections: c.connections,
    mode: c.mode,
    pipeline: c.pipeline,
    durationMs: c.durationMs,
    warmupMs: c.warmupMs,
    loadTool: c.loadTool,
    status: 'not-run',
    reason: null,
    repetitions: [],
    summary: null,
    comparison: null,
  }
}

// ---------------------------------------------------------------- JSON Schema

const num = { type: 'number' }
const int = { type: 'integer' }
const str = { type: 'string' }
const bool = { type: 'boolean' }
const nullable = (s: object): object => ({ anyOf: [s, { type: 'null' }] })
const obj = (required: string[], properties: Record<string, object>): object => ({ type: 'object', required, properties })
const all = (properties: Record<string, object>): object => obj(Object.keys(properties), properties)

const latency = { $ref: '#/$defs/latency' }
const statRef = nullable({ $ref: '#/$defs/stat' })
const cpu = all({ userSec: num, systemSec: num, totalSec: num, wallSec: num, percentOfOneCore: num })
const metricNames: Array<keyof ScenarioMetrics> = [
  'requestsPerSec', 'latencyMeanMs', 'latencyP50Ms', 'latencyP90Ms', 'latencyP99Ms', 'latencyP999Ms', 'serverCpuSec',
  'serverCpuPercent', 'requestsPerCpuSec', 'rssBytes', 'pssBytes', 'rssPerConnectionBytes', 'pssPerConnectionBytes',
  'processes', 'threads', 'connectP50Ms', 'connectP99Ms', 'generatorCpuPercent', 'mismatches', 'errors',
]
const maxMean = all({ max: num, mean: num })

/** JSON Schema (draft 2020-12 subset, as ajv 8 reads it) of a results file, schemaVersion 1. */
export const resultsSchema = {
  $id: 'https://echoplex.dev/schemas/results-v1.json',
  type: 'object',
  required: ['schemaVersion', 'tool', 'suite', 'environment', 'startedAt', 'finishedAt', 'durationMs', 'complete', 'interrupted', 'peers', 'notes', 'scenarios'],
  properties: {
    schemaVersion: { const: 1 },
    tool: all({ name: { const: 'echoplex' }, version: str }),
    suite: obj(['name', 'repetitions', 'models', 'peers', 'workloads'], {
      name: str,
      description: str,
      source: nullable(str),
      repetitions: int,
      loadThreads: int,
      models: { type: 'array', items: { $ref: '#/$defs/target' } },
      peers: { type: 'array', items: str },
      workloads: { type: 'array', items: { $ref: '#/$defs/workload' } },
    }),
    environment: all({
      cpuModel: str,
      cores: int,
      availableParallelism: int,
      cpuMHz: num,
      memoryBytes: num,
      freeMemoryBytes: num,
      node: str,
      v8: str,
      platform: str,
      arch: str,
      kernel: str,
      os: str,
      loadAverage: num,
      commit: nullable({ type: 'string', pattern: '^[0-9a-f]{40}$' }),
      dirty: nullable(bool),
    }),
    startedAt: str,
    finishedAt: str,
    durationMs: num,
    complete: bool,
    interrupted: nullable(str),
    peers: { type: 'array', items: all({ name: str, framing: { enum: ['raw', 'http'] }, available: bool, note: nullable(str) }) },
    notes: { type: 'array', items: str },
    scenarios: { type: 'array', items: { $ref: '#/$defs/scenario' } },
  },
  $defs: {
    latency: all({ count: num, min: num, mean: num, stdev: num, p50: num, p90: num, p99: num, p999: num, max: num }),
    stat: all({ n: int, median: num, mean: num, min: num, max: num, stdev: num, cv: num, q1: num, q3: num, iqr: num, values: { type: 'array', items: num } }),
    target: all({
      kind: { enum: ['model', 'peer', 'external'] },
      name: str,
      label: str,
      workers: nullable(int),
      spares: nullable(int),
    }),
    workload: all({
      name: str,
      handler: str,
      framing: { enum: ['raw', 'line', 'length', 'http'] },
      expect: { enum: ['echo', 'upper', 'work'] },
      options: { type: 'object', additionalProperties: str },
      peers: bool,
      payloadBytes: { type: 'array', items: int },
      connections: { type: 'array', items: int },
      modes: { type: 'array', items: { enum: ['keep-alive', 'churn'] } },
      durationMs: num,
      warmupMs: num,
      pipeline: int,
    }),
    load: all({
      tool: { enum: ['autocannon', 'tcp'] },
      aborted: nullable(str),
      startedAt: str,
      windowMs: num,
      requests: all({ sent: num, completed: num }),
      throughput: all({ requestsPerSec: num, bytesPerSec: num }),
      latency,
      connectLatency: nullable(latency),
      mismatches: num,
      errors: all({
        total: num,
        timeouts: num,
        non2xx: num,
        byKind: { type: 'object', additionalProperties: num },
        byCode: { type: 'object', additionalProperties: num },
      }),
      connectionsOpened: nullable(num),
      generator: all({ threads: int, process: cpu, loadThreads: nullable(cpu) }),
      histograms: all({ latency: nullable(str), connectLatency: nullable(str) }),
    }),
    tree: obj(['rootPid', 'samples', 'durationMs', 'rootExited', 'processes', 'threads', 'rssBytes', 'pssBytes', 'cpu', 'ctxSwitches', 'zombies', 'series'], {
      rootPid: int,
      intervalMs: num,
      startedAt: str,
      durationMs: num,
      samples: int,
      rootExited: bool,
      processes: all({ max: num, mean: num, seen: int, exited: int }),
      threads: maxMean,
      rssBytes: maxMean,
      pssBytes: nullable(maxMean),
      cpu: all({ userSec: num, systemSec: num, totalSec: num, meanPercent: num, maxPercent: num, fromExitedSec: num }),
      ctxSwitches: all({ voluntary: num, involuntary: num }),
      zombies: all({ max: num }),
      connections: nullable(maxMean),
      series: { type: 'array', items: all({ t: num, processes: num, threads: num, rssBytes: num, cpuPercent: num, zombies: num }) },
    }),
    repetition: all({
      repetition: { type: 'integer', minimum: 1 },
      status: { enum: ['ok', 'failed', 'interrupted'] },
      problems: { type: 'array', items: str },
      warnings: { type: 'array', items: str },
      startedAt: str,
      wallMs: num,
      server: all({
        command: { type: 'array', items: str },
        pid: nullable(int),
        pgid: nullable(int),
        address: nullable(str),
        startMs: nullable(num),
        died: bool,
        stop: nullable(all({ code: nullable(int), signal: nullable(str), killed: bool, stopMs: num, leftover: { type: 'array', items: int } })),
        stderrTail: str,
      }),
      idle: nullable(all({ processes: num, threads: num, rssBytes: num, pssBytes: nullable(num) })),
      load: nullable({ $ref: '#/$defs/load' }),
      tree: nullable({ $ref: '#/$defs/tree' }),
      window: nullable(all({
        from: num,
        to: num,
        samples: int,
        cpuSec: num,
        cpuPercent: num,
        rssBytes: maxMean,
        pssBytes: nullable(maxMean),
        processes: maxMean,
        threads: maxMean,
        zombies: all({ max: num }),
      })),
      derived: nullable(all({
        requestsPerCpuSec: nullable(num),
        serverCpuPercent: nullable(num),
        rssPerConnectionBytes: nullable(num),
        pssPerConnectionBytes: nullable(num),
        connectToFirstByteMs: nullable(all({ count: num, mean: num, p50: num, p99: num, max: num })),
        generatorCpuPercent: num,
        generatorSaturated: bool,
      })),
    }),
    scenario: all({
      id: str,
      group: str,
      workload: { $ref: '#/$defs/workload' },
      target: { $ref: '#/$defs/target' },
      payloadBytes: int,
      connections: int,
      mode: { enum: ['keep-alive', 'churn'] },
      pipeline: int,
      durationMs: num,
      warmupMs: num,
      loadTool: { enum: ['autocannon', 'tcp'] },
      status: { enum: ['ok', 'failed', 'skipped', 'interrupted', 'not-run'] },
      reason: nullable(str),
      repetitions: { type: 'array', items: { $ref: '#/$defs/repetition' } },
      summary: nullable(all(Object.fromEntries(metricNames.map((k) => [k, statRef])))),
      comparison: nullable(all({ peer: str, peerScenario: str, peerRequestsPerSec: num, ratio: num })),
    }),
  },
} as const

// ---------------------------------------------------------------- read / write

export class ResultsError extends Error {
  override name = 'ResultsError'
}

/** Validates parsed results; returns null when valid, else a one-line reason. */
export function validateResults (data: unknown): string | null {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return 'not a results object'
  const v = (data as { schemaVersion?: unknown }).schemaVersion
  if (v === undefined) return 'no schemaVersion: not an echoplex results file'
  if (v !== RESULTS_SCHEMA_VERSION) return `schemaVersion ${JSON.stringify(v)} is not supported (this echoplex reads ${RESULTS_SCHEMA_VERSION})`
  return checkSchema(resultsSchema, data)
}

/** Reads and validates a results file; throws a ResultsError with a one-line reason. */
export function readResults (path: string): Results {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new ResultsError(`${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message.split('\n')[0]}`)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    throw new ResultsError(`${path}: not valid JSON: ${(e as Error).message.split('\n')[0]}`)
  }
  const err = validateResults(data)
  if (err !== null) throw new ResultsError(`${path}: invalid results: ${err}`)
  return data as Results
}

/** Writes results atomically (temp file + rename), creating the folder. */
export function writeResults (path: string, results: Results): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(results, null, 2)}\n`)
  renameSync(tmp, path)
}

/** `<dir>/<suite>-<UTC timestamp>.json`, dir defaulting to benchmarks/results/. */
export function defaultResultsPath (suiteName: string, startedAt: Date = new Date(), dir: string = RESULTS_DIR): string {
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
  return join(dir, `${suiteName}-${stamp}.json`)
}
