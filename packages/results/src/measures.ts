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
}
