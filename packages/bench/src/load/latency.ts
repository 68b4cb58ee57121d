/**
 * Latency and rate arithmetic for the raw TCP load generator: HDR histograms (microsecond values,
 * 3 significant digits), their summaries in milliseconds, merging across worker threads, the open-loop
 * schedule and CPU percentages. Everything here is pure and synchronous so it can be tested on known
 * inputs.
 */
import hdr from 'hdr-histogram-js'
import type { Histogram } from 'hdr-histogram-js'
import type { LatencySummary } from '@echoplex/results'

export type { Histogram }
/** A latency distribution in milliseconds (values are recorded in whole microseconds); results record it as is. */
export type { LatencySummary }

/** Highest value tracked without resizing: 1 hour in µs (the histogram auto-resizes beyond it anyway). */
const HIGHEST_TRACKABLE_US = 3_600_000_000

/** A new histogram for microsecond values: 1 µs resolution, 3 significant digits, auto-resizing. */
export function createLatencyHistogram (): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  })
}

/**
 * Records a duration given in milliseconds (as from `performance.now()` differences) as whole
 * microseconds. Anything under 1 µs is recorded as 1 µs: nothing crosses a socket faster, and a
 * non-positive value can only come from clock arithmetic, never from a real round trip.
 */
export function recordLatencyMs (h: Histogram, ms: number): void {
  const us = Math.round(ms * 1000)
  h.recordValue(us < 1 ? 1 : us)
}

const usToMs = (us: number): number => us / 1000

/** Min, mean, stdev, p50, p90, p99, p99.9 and max of a microsecond histogram, in milliseconds. */
export function summarizeLatency (h: Histogram): LatencySummary {
  const count = h.totalCount
  if (count === 0) return { count: 0, min: 0, mean: 0, stdev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 }
  return {
    count,
    min: usToMs(h.minNonZeroValue),
    mean: usToMs(h.mean),
    stdev: usToMs(h.stdDeviation),
    p50: usToMs(h.getValueAtPercentile(50)),
    p90: usToMs(h.getValueAtPercentile(90)),
    p99: usToMs(h.getValueAtPercentile(99)),
    p999: usToMs(h.getValueAtPercentile(99.9)),
    max: usToMs(h.maxValue),
  }
}

/** A compact, JSON-safe form of a histogram (HdrHistogram's compressed base64 encoding). */
export function encodeHistogram (h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h)
}

export function decodeHistogram (encoded: string): Histogram {
  const decoded = hdr.decodeFromCompressedBase64(encoded)
  // decoded histograms are sized to their content; let later adds grow them
  decoded.autoResize = true
  return decoded
}

/** Adds histograms (or their encoded forms, e.g. from worker threads) into a new one. */
export function mergeHistograms (parts: ReadonlyArray<Histogram | string>): Histogram {
  const out = createLatencyHistogram()
  for (const part of parts) {
    const h = typeof part === 'string' ? decodeHistogram(part) : part
    if (h.totalCount > 0) out.add(h)
  }
  return out
}

/** Events per second for `count` events over `windowMs` milliseconds (0 for an empty window). */
export function ratePerSecond (count: number, windowMs: number): number {
  return windowMs > 0 ? count * 1000 / windowMs : 0
}

/**
 * The open-loop (fixed-rate) schedule. `rate` requests per second in total are spread evenly over
 * `connections`: each connection sends every `connections / rate` seconds, and connection `i` is offset
 * by `i / rate` seconds, so that together the connections send one request every `1 / rate` seconds.
 * Times are milliseconds after the schedule's start.
 */
export interface OpenLoopSchedule {
  /** Milliseconds between two requests on one connection. */
  intervalMs: number
  /** Milliseconds between two requests of all connections together. */
  gapMs: number
  /** Intended send time of request `k` (0-based) on connection `connection` (0-based, global). */
  at (connection: number, k: number): number
}

export function openLoopSchedule (rate: number, connections: number): OpenLoopSchedule {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number, got ${rate}`)
  if (!Number.isInteger(connections) || connections < 1) throw new RangeError(`connections must be a positive integer, got ${connections}`)
  const gapMs = 1000 / rate
  const intervalMs = gapMs * connections
  return { intervalMs, gapMs, at: (connection, k) => connection * gapMs + k * intervalMs }
}

/** How many requests connection `connection` is scheduled to send in `[0, untilMs)`. */
export function scheduledCount (schedule: OpenLoopSchedule, connection: number, untilMs: number): number {
  const first = schedule.at(connection, 0)
  if (untilMs <= first) return 0
  return Math.ceil((untilMs - first) / schedule.intervalMs)
}

/**
 * Coordinated-omission-corrected latency: measured from when the request was INTENDED to be sent, not
 * from when it actually went out. A server that stalls delays the generator's sends as well; measuring
 * from the actual send would hide the stall (the requests that should have been sent during it are
 * simply not there). Measuring from the intended time charges each of them the wait, as wrk2 does.
 */
export function correctedLatencyMs (intendedMs: number, completedMs: number): number {
  return completedMs - intendedMs
}

export interface CpuSeconds { userSec: number, systemSec: number }

/** CPU time as a percentage of one core over `wallSec` seconds of wall-clock time. */
export function cpuPercentOfOneCore (cpu: CpuSeconds, wallSec: number): number {
  return wallSec > 0 ? (cpu.userSec + cpu.systemSec) / wallSec * 100 : 0
}
