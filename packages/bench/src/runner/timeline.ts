/**
 * A repetition's timeline: per interval (1 s) from the start of the load, throughput and p99 from the
 * load generator's per-second buckets, and the server tree's RSS, CPU and process count from the
 * sampler's records — so warm-up, GC pauses and respawns are visible instead of averaged away.
 * Intervals before the load (the connect phase: e.g. fork spawning its children) carry the tree's
 * figures only and have a negative `t`.
 */
import { spread, type LoadSummary, type Timeline, type TimelinePoint } from '@echoplex/results'
import type { SampleRecord } from './window.js'

/** How far before the load the timeline reaches back into the connect phase. */
const MAX_LEAD_MS = 30_000

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits

/** The timeline of one load; null when there is nothing to draw. */
export function buildTimeline (load: LoadSummary, records: readonly SampleRecord[], warmupMs: number, intervalMs = 1000): Timeline | null {
  const sec = load.seconds ?? null
  const step = sec?.intervalMs ?? intervalMs
  const origin = sec?.origin ?? Date.parse(load.startedAt) - warmupMs
  const end = Date.parse(load.startedAt) + load.windowMs
  if (!Number.isFinite(origin) || !Number.isFinite(end)) return null
  const firstRecord = records.length > 0 ? records[0]!.at : origin
  const from = Math.min(0, Math.max(-Math.ceil(MAX_LEAD_MS / step), Math.floor((firstRecord - origin) / step)))
  const until = Math.max(Math.ceil((end - origin) / step), sec?.completed.length ?? 0)
  const points: TimelinePoint[] = []
  for (let i = from; i < until; i++) {
    const a = origin + i * step
    const b = a + step
    const p: TimelinePoint = { t: i * step }
    // the last interval may be cut short by the end of the load: its rate is over what it covered
    // (the drain after the end is not drawn)
    const covered = Math.min(b, end) - a
    if (sec !== null && i >= 0 && covered >= step / 10) {
      const n = sec.completed[i] ?? 0
      p.requestsPerSec = round(n * 1000 / Math.min(step, covered), 1)
      p.p99Ms = sec.p99Ms[i] ?? null
    }
    const inside = records.filter((r) => r.at >= a && r.at < b)
    if (inside.length > 0) {
      const cpu = inside.map((r) => r.cpuPercent).filter((v) => Number.isFinite(v))
      p.cpuPercent = cpu.length === 0 ? null : round(cpu.reduce((x, y) => x + y, 0) / cpu.length, 1)
      p.rssBytes = Math.max(...inside.map((r) => r.rssBytes))
      p.processes = Math.max(...inside.map((r) => r.processes))
    }
    if (Object.keys(p).length > 1) points.push(p)
  }
  return points.length === 0 ? null : { intervalMs: step, origin, warmupMs, points }
}

/** A rise through the measured window from this ratio on means the server was still warming up. */
export const STILL_WARMING_RATIO = 1.25

/**
 * A warning when req/s rose through the measured window (its last whole second at least
 * STILL_WARMING_RATIO × its first): what was measured is a server still warming up, not its working
 * speed. Null when it did not, or when there are fewer than two whole seconds to compare.
 */
export function stillWarming (timeline: Timeline | null, load: LoadSummary): string | null {
  if (timeline === null) return null
  const end = Date.parse(load.startedAt) + load.windowMs
  const rates = timeline.points
    .filter((p) => p.t >= timeline.warmupMs && timeline.origin + p.t + timeline.intervalMs <= end && p.requestsPerSec != null)
    .map((p) => p.requestsPerSec!)
  if (rates.length < 2) return null
  const first = rates[0]!
  const last = rates.at(-1)!
  if (first <= 0 || last < STILL_WARMING_RATIO * first) return null
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
  return `req/s rose ${Math.round((last / first - 1) * 100)}% through the measurement (${fmt(first)} → ${fmt(last)} in its first and last second): the server was still warming up (--steady-warmup measures it warm)`
}

/** A fixed-rate window's p99 from this multiple of its whole later seconds' own on is a slow start. */
export const SLOW_START_RATIO = 2

/**
 * A warning when a fixed-rate window's p99 came from its start: at least SLOW_START_RATIO × the
 * median p99 of its whole later seconds, with the second the measurement began in slower still. A
 * fixed rate cannot rise as a warming server speeds up (stillWarming's sign); its warm-up shows as
 * latency instead — a freshly started server served the first second of a fixed rate at several times
 * the p99 of the rest (every model here, the pool most), and that second set the window's p99. Null
 * when it did not, or when there are fewer than two whole later seconds.
 */
export function slowStart (timeline: Timeline | null, load: LoadSummary): string | null {
  if (timeline === null) return null
  const p99 = load.latency?.p99
  if (p99 === undefined || !Number.isFinite(p99)) return null
  const end = Date.parse(load.startedAt) + load.windowMs
  const step = timeline.intervalMs
  // the interval the measurement began in, and the whole ones after it
  const start = timeline.points.find((p) => p.t <= timeline.warmupMs && timeline.warmupMs < p.t + step)
  const first = start?.p99Ms
  if (start === undefined || first == null) return null
  const later = spread(timeline.points.filter((p) => p.t > start.t && timeline.origin + p.t + step <= end).map((p) => p.p99Ms))
  if (later === null || later.n < 2) return null
  const typical = later.median
  if (first < p99 || p99 < SLOW_START_RATIO * typical) return null
  const ms = (v: number): string => v >= 10 ? String(Math.round(v)) : v.toFixed(1)
  return `p99 ${ms(p99)} ms over the measurement, ${ms(typical)} ms in its later seconds: its first second was slow (${ms(first)} ms), so the server was still warming up (--steady-warmup measures it warm)`
}
