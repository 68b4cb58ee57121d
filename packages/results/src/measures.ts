/**
 * The measurements a results file records, as bench produces them: the machine, one load run (the
 * same shape for both load tools, so results and reports never care which tool produced them), how
 * a server stopped, and the server's process tree over the measured window.
 */

/** The machine a benchmark ran on: CPU, cores, memory, Node, kernel, OS, and the commit of the code. */
export interface Environment {
  /** CPU model name of the first core */
  cpuModel: string
  /** logical CPUs (os.cpus().length) */
  cores: number
  /** CPUs this process may use (os.availableParallelism(); affinity, cgroups) */
  availableParallelism: number
  /** nominal clock of the first core, MHz (0 when unknown) */
  cpuMHz: number
  memoryBytes: number
  /** free memory when the run started */
  freeMemoryBytes: number
  /** Node version (process.version) */
  node: string
  v8: string
  platform: string
  arch: string
  /** kernel release (uname -r) */
  kernel: string
  /** OS name: PRETTY_NAME of /etc/os-release, else os.version() */
  os: string
  /** 1-minute load average when the run started */
  loadAverage: number
  /** `git rev-parse HEAD` of the repository, null when not a git checkout or no git */
  commit: string | null
  /** uncommitted changes to tracked files (`git status --porcelain --untracked-files=no`), null when unknown */
  dirty: boolean | null
  /** how the server and the load generator were placed on CPUs (schemaVersion 2; absent in older files) */
  pinning?: Pinning
  /**
   * NODE_EXTRA_CA_CERTS, when the servers inherited it (absent: unset). Node before 22 parses that
   * bundle at every process start: strict fork pays it per connection.
   */
  nodeExtraCaCerts?: string
}

/**
 * CPU pinning of a run: the server's whole process tree on `serverCpus`, the load generator (the
 * runner's process, its threads and any engine process it starts) on `loadCpus`, disjoint sets.
 */
export interface Pinning {
  /** auto: split chosen by echoplex; manual: `--pin S:L`; off: `--pin none`; unavailable: asked for but impossible (`note` says why) */
  mode: 'auto' | 'manual' | 'off' | 'unavailable'
  /** CPU list (`0-1,4`), null when not pinned */
  serverCpus: string | null
  loadCpus: string | null
  /** what pinned them (`taskset`), null when not pinned */
  method: string | null
  note: string | null
}

/**
 * Per-interval figures of one repetition, from the start of the load (warmup included) to its end:
 * throughput and p99 from the load generator, RSS and CPU of the server's tree from the sampler.
 * A figure is null where its source did not record that interval (e.g. autocannon with threads).
 */
export interface Timeline {
  intervalMs: number
  /** epoch ms of t = 0 (the start of the load, warmup included) */
  origin: number
  /** the measured window starts at t = warmupMs */
  warmupMs: number
  points: TimelinePoint[]
}

export interface TimelinePoint {
  /** ms since `origin`, the start of the interval */
  t: number
  /** requests completed in the interval, per second */
  requestsPerSec?: number | null
  /** p99 latency of the requests completed in the interval, ms */
  p99Ms?: number | null
  /** tree RSS (max over the interval's samples) */
  rssBytes?: number | null
  /** tree CPU over the interval, % of one core */
  cpuPercent?: number | null
  processes?: number | null
}

/** A flame graph node: a function (name + where), its self and total samples, and its callees. */
export interface FlameNode {
  name: string
  /** `file:line` (shortened), '' for V8's own frames */
  where: string
  /** samples in this frame and its callees */
  total: number
  /** samples in this frame itself */
  self: number
  children: FlameNode[]
}

/** CPU profiles recorded for one repetition (`bench --profile`). */
export interface ProfileRecord {
  /** the folder of the profile files, relative to the results file's folder */
  dir: string
  files: ProfileFile[]
  /** the profiles of every process and thread merged (root = all samples), pruned to frames ≥ 0.2 % of the samples; null when none was readable */
  flame: FlameNode | null
  note?: string | null
}

export interface ProfileFile {
  /** file name inside `dir` (a V8 `.cpuprofile`: open it in Chrome DevTools or speedscope) */
  file: string
  /** the process it came from (from the file name), null when unknown */
  pid: number | null
  /** V8 thread id (0 = the main thread; > 0 a worker thread) */
  thread?: number | null
  bytes: number
  /** primary, worker, child … when known */
  role?: string | null
}

/** A latency distribution in milliseconds (values are recorded in whole microseconds). */
export interface LatencySummary {
  /** Number of recorded values. */
  count: number
  min: number
  mean: number
  stdev: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

/** How a server process exited. */
export interface ExitStatus {
  code: number | null
  signal: string | null
}

/** How a server stopped when asked to. */
export interface StopInfo extends ExitStatus {
  /** SIGTERM was not enough: the group was SIGKILLed */
  killed: boolean
  /** ms from the stop request to the exit */
  stopMs: number
  /** pids of its process group still alive after it exited (then SIGKILLed) */
  leftover: number[]
}

export interface MaxMean { max: number, mean: number }

/** The server's process tree over exactly the measured window (see bench's runner/window.ts). */
export interface WindowStats {
  /** the measured window, epoch ms */
  from: number
  to: number
  /** samples taken inside the window */
  samples: number
  /** server CPU seconds attributed to the window (all processes and threads) */
  cpuSec: number
  /** cpuSec over the window length, % of one core */
  cpuPercent: number
  rssBytes: MaxMean
  pssBytes: MaxMean | null
  processes: MaxMean
  threads: MaxMean
  zombies: { max: number }
}

export type LoadTool = 'autocannon' | 'tcp'

export interface GeneratorCpu {
  userSec: number
  systemSec: number
  totalSec: number
  wallSec: number
  /** (user + system) / wall × 100: 100 is one core fully busy */
  percentOfOneCore: number
}

export interface LoadSummary {
  tool: LoadTool
  /** why the load ended early, or null */
  aborted: string | null
  /** when the measured window started (ISO; after connect phase and warmup) */
  startedAt: string
  /** the measured window, ms */
  windowMs: number
  requests: {
    /** requests sent in the measured window (autocannon: over the whole run, warmup included) */
    sent: number
    /** requests completely answered (and verified) in the measured window */
    completed: number
  }
  throughput: {
    requestsPerSec: number
    /** reply bytes per second (HTTP: whole responses, headers included) */
    bytesPerSec: number
  }
  /** request latency in ms (churn: the whole connect–request–reply transaction) */
  latency: LatencySummary
  /** connect initiated → first reply byte, per connection, ms (the fork model's spawn wait); null when the tool cannot measure it (autocannon) */
  connectLatency: LatencySummary | null
  /** replies whose bytes differed from what was expected (warmup included) */
  mismatches: number
  /** what the first mismatched reply looked like (expected vs got); absent when none or not recorded */
  firstMismatch?: string
  errors: {
    /** every error: connection errors, timeouts, non-2xx responses */
    total: number
    timeouts: number
    /** HTTP responses other than 2xx */
    non2xx: number
    /** by kind (tcp: refused, reset, timeout, closed, mismatch, other; autocannon: connection, timeout, non2xx) */
    byKind: Record<string, number>
    /** by errno code where known (ECONNRESET …) */
    byCode: Record<string, number>
  }
  /** connections opened in the measured window (reconnects; with churn, one per request) */
  connectionsOpened: number | null
  /** the load generator's own CPU use */
  generator: {
    /** load threads used (0: the runner's main thread) */
    threads: number
    /** the whole generator process during the load call (includes the runner's sampler) */
    process: GeneratorCpu
    /** the load threads only (raw TCP on Linux), else null */
    loadThreads: GeneratorCpu | null
    /** raw TCP: the engine that ran (native: compiled C, one process per thread; node: worker threads) */
    engine?: 'node' | 'native'
    /** raw TCP: why the Node engine ran although native was possible to ask for (e.g. no C compiler) */
    engineNote?: string | null
  }
  /** encoded HDR histograms (µs, compressed base64) for merging or re-deriving percentiles; null when not available */
  histograms: { latency: string | null, connectLatency: string | null }
  /** open loop (fixed-rate scenarios): the rate asked for, requests scheduled in the window, and those never sent (the server fell behind) */
  openLoop?: { rate: number, scheduled: number, unsent: number } | null
  /**
   * Per interval since the load started (warmup included): completions and their p99. Transient: the
   * runner moves it into the repetition's `timeline` and drops it from `load`.
   */
  seconds?: LoadSeconds | null
}

export interface LoadSeconds {
  intervalMs: number
  /** epoch ms of interval 0 (the start of the load) */
  origin: number
  warmupMs: number
  completed: number[]
  p99Ms: Array<number | null>
}
