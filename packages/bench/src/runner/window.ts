/**
 * The server's process tree over exactly the measured window.
 *
 * The sampler runs over the whole load call (connect phase, warmup, measurement, drain): when the
 * measured window starts is only known afterwards (the raw TCP generator's connect phase, e.g. a
 * fork model spawning a child per connection, takes as long as it takes). Every sample is recorded
 * with its absolute time; afterwards CPU is attributed to the window in proportion to how much of
 * each sampling interval overlaps it, and memory/process/thread figures come from the samples
 * taken inside it.
 */
import type { ProcessTree, SamplePoint } from '@echoplex/proc'
import type { MaxMean, WindowStats } from '@echoplex/results'

export interface SampleRecord {
  /** epoch ms of the /proc scan */
  at: number
  /** tree CPU % since the previous sample (100 = one core); NaN for the first sample */
  cpuPercent: number
  rssBytes: number
  pssBytes: number | null
  processes: number
  threads: number
  zombies: number
}

export class WindowRecorder {
  readonly records: SampleRecord[] = []
  private first = true

  /** pass as the sampler's `onSample` */
  readonly onSample = (point: SamplePoint, tree: ProcessTree): void => {
    let pss = 0
    let anyPss = false
    for (const p of tree.processes) if (p.pssBytes !== null) { pss += p.pssBytes; anyPss = true }
    this.records.push({
      at: tree.readAtMs,
      cpuPercent: this.first ? NaN : point.cpuPercent,
      rssBytes: point.rssBytes,
      pssBytes: anyPss ? pss : null,
      processes: point.processes,
      threads: point.threads,
      zombies: point.zombies,
    })
    this.first = false
  }

  /** The figures of the window [from, to] (epoch ms); null without at least two samples. */
  stats (from: number, to: number): WindowStats | null {
    return windowStats(this.records, from, to)
  }
}

function maxMean (values: number[]): MaxMean {
  let max = -Infinity
  let sum = 0
  for (const v of values) { if (v > max) max = v; sum += v }
  return { max: values.length === 0 ? 0 : max, mean: values.length === 0 ? 0 : Math.round(sum / values.length * 100) / 100 }
}

/** See WindowRecorder. Exported for tests. */
export function windowStats (records: readonly SampleRecord[], from: number, to: number): WindowStats | null {
  if (records.length < 2 || !(to > from)) return null
  let cpuSec = 0
  for (let i = 1; i < records.length; i++) {
    const a = records[i - 1]!.at
    const b = records[i]!.at
    const pct = records[i]!.cpuPercent
    if (!(b > a) || !Number.isFinite(pct)) continue
    const overlap = Math.min(b, to) - Math.max(a, from)
    if (overlap > 0) cpuSec += pct / 100 * overlap / 1000
  }
  let inside = records.filter((r) => r.at >= from && r.at <= to)
  if (inside.length === 0) {
    // a window shorter than the sampling interval: the sample closest to its middle
    const mid = (from + to) / 2
    inside = [records.reduce((best, r) => Math.abs(r.at - mid) < Math.abs(best.at - mid) ? r : best)]
  }
  const pss = inside.map((r) => r.pssBytes).filter((v): v is number => v !== null)
  const seconds = (to - from) / 1000
  return {
    from,
    to,
    samples: inside.length,
    cpuSec: Math.round(cpuSec * 1e6) / 1e6,
    cpuPercent: Math.round(cpuSec / seconds * 100 * 100) / 100,
    rssBytes: maxMean(inside.map((r) => r.rssBytes)),
    pssBytes: pss.length === 0 ? null : maxMean(pss),
    processes: maxMean(inside.map((r) => r.processes)),
    threads: maxMean(inside.map((r) => r.threads)),
    zombies: { max: Math.max(0, ...inside.map((r) => r.zombies)) },
  }
}
