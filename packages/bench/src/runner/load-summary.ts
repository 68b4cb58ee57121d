/**
 * What one load run measured, the same shape for both load tools (autocannon for HTTP, the raw TCP
 * generator for raw/line/length), so results and reports never care which tool produced them.
 */
import type { LatencySummary } from '../load/latency.js'

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
