/**
 * The results file's shape (schemaVersion 2; version 1 files lack only optional fields): a run of a suite, its scenarios, their repetitions
 * and the summaries across them. Every field is documented in docs/RESULTS.md.
 */
import type { SamplerSummary } from '@echoplex/proc'
import type { ScenarioConfig, SuiteConfig } from './config.js'
import type { Environment, LoadSummary, ProfileRecord, StopInfo, Timeline, WindowStats } from './measures.js'
import type { Spread } from './stats.js'

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
  /** the CPUs its root process may run on (`Cpus_allowed_list`), read once it listened (schemaVersion 2) */
  cpus?: string | null
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
  /** the round it ran in: every scenario runs once per round (schemaVersion 2) */
  round?: number
  /** per-second throughput, p99, tree RSS and CPU over the load (schemaVersion 2) */
  timeline?: Timeline | null
  /** CPU profiles of the serving processes (`bench --profile`; schemaVersion 2) */
  profile?: ProfileRecord | null
  /** the warm-up until steady that ran before the measurement, when the workload asked for one (schemaVersion 2) */
  steadyWarmup?: SteadyWarmup | null
}

/** A warm-up in steps until the rate is steady (WorkloadConfig.steadyWarmupMs). */
export interface SteadyWarmup {
  /** req/s of each 1 s step, in order */
  steps: number[]
  /** the last three steps were within 10% of their mean and at most 5% above the three before; false: the time allowed ran out first */
  steady: boolean
  /** how long it took */
  ms: number
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
  /** fixed-rate scenarios: the rate they ran at and how it was chosen (schemaVersion 2) */
  rate?: { requestsPerSec: number, basis: string } | null
}

export interface PeerInfo {
  name: string
  framing: 'raw' | 'http'
  available: boolean
  note: string | null
}

export interface Results {
  /** 2 when written by this echoplex; 1 in older files */
  schemaVersion: 1 | 2
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
