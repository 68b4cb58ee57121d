/**
 * Spread across repetitions: median, quartiles (linear interpolation, as R's type 7 and numpy's
 * default), min/max, mean, sample standard deviation and coefficient of variation.
 */

export interface Spread {
  /** number of values */
  n: number
  median: number
  mean: number
  min: number
  max: number
  /** sample standard deviation (n − 1); 0 when n < 2 */
  stdev: number
  /** stdev / |mean|; 0 when n < 2 or the mean is 0 */
  cv: number
  /** first and third quartile, and their difference */
  q1: number
  q3: number
  iqr: number
  /** the values, in repetition order */
  values: number[]
}

/** The q-quantile (0..1) of sorted values, linearly interpolated. */
export function quantile (sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q))
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

const round = (v: number): number => Number.isFinite(v) ? Math.round(v * 1e6) / 1e6 : v

/** Spread of the finite values in `values`; null when there is none. */
export function spread (values: ReadonlyArray<number | null | undefined>): Spread | null {
  const vals = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  if (vals.length === 0) return null
  const sorted = [...vals].sort((a, b) => a - b)
  const n = vals.length
  const mean = vals.reduce((s, v) => s + v, 0) / n
  const stdev = n < 2 ? 0 : Math.sqrt(vals.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1))
  const q1 = quantile(sorted, 0.25)
  const q3 = quantile(sorted, 0.75)
  return {
    n,
    median: round(quantile(sorted, 0.5)),
    mean: round(mean),
    min: sorted[0]!,
    max: sorted[n - 1]!,
    stdev: round(stdev),
    cv: n < 2 || mean === 0 ? 0 : round(stdev / Math.abs(mean)),
    q1: round(q1),
    q3: round(q3),
    iqr: round(q3 - q1),
    values: vals,
  }
}
