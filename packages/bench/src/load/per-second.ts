/**
 * Per-second figures of a load run (for timelines): requests completed in each second since the
 * start of the load (warmup included) and their latency distribution, so that warm-up, GC pauses and
 * respawns show as dips and spikes. Each engine keeps its own buckets (HDR histograms, 2 significant
 * digits: plenty for a per-second p99); tcp-load.ts merges them by second across engines, which
 * share one absolute start time.
 */
import hdr from 'hdr-histogram-js'
import type { Histogram } from 'hdr-histogram-js'
import type { LoadSeconds } from '@echoplex/results'
import { decodeHistogram } from './latency.js'

/** What an engine reports: per second since the load started, completions and their encoded latency histogram (µs). */
export interface EngineSeconds {
  intervalMs: number
  completed: number[]
  latency: string[]
}

/** Merged over the engines of a run (results' LoadSeconds: p99Ms null for a second without completions). */
export type { LoadSeconds }

/** The longest run bucketed (later completions go uncounted in the timeline, never in the totals). */
const MAX_BUCKETS = 3600

export class SecondBuckets {
  private readonly counts: number[] = []
  private readonly hists: Histogram[] = []

  constructor (readonly intervalMs = 1000) {}

  /** A request completed `atMs` after the load started, after `latencyMs`. */
  record (atMs: number, latencyMs: number): void {
    if (!(atMs >= 0)) return
    const i = Math.floor(atMs / this.intervalMs)
    if (i >= MAX_BUCKETS) return
    while (this.counts.length <= i) {
      this.counts.push(0)
      this.hists.push(hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 2, autoResize: true }))
    }
    this.counts[i]!++
    const us = Math.round(latencyMs * 1000)
    this.hists[i]!.recordValue(us < 1 ? 1 : us)
  }

  result (): EngineSeconds {
    return { intervalMs: this.intervalMs, completed: [...this.counts], latency: this.hists.map((h) => hdr.encodeIntoCompressedBase64(h)) }
  }
}

/** Merges engines' seconds (same start time): sums by second, p99 of the merged histogram. */
export function mergeSeconds (parts: readonly EngineSeconds[], origin: number, warmupMs: number): LoadSeconds | null {
  if (parts.length === 0) return null
  const intervalMs = parts[0]!.intervalMs
  const n = Math.max(0, ...parts.map((p) => p.completed.length))
  const completed: number[] = []
  const p99Ms: Array<number | null> = []
  for (let i = 0; i < n; i++) {
    let count = 0
    let merged: Histogram | null = null
    for (const p of parts) {
      const c = p.completed[i] ?? 0
      if (c === 0) continue
      count += c
      const h = decodeHistogram(p.latency[i]!)
      if (merged === null) merged = h
      else merged.add(h)
    }
    completed.push(count)
    p99Ms.push(merged === null ? null : merged.getValueAtPercentile(99) / 1000)
  }
  return { intervalMs, origin, warmupMs, completed, p99Ms }
}
