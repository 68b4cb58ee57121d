/**
 * Is a difference between two sets of repetitions larger than the noise?
 *
 * Benchmarks here have few repetitions, and two runs of the same commit differ by more than their
 * repetitions suggest (the machine's load drifts between runs). So the test errs on the side of
 * "no change" and says which rule it applied:
 *
 * - fewer than 3 repetitions on either side: **too few to tell** (2 values give no usable estimate of
 *   the noise, and a rank test of 2 vs 2 cannot reach p < 0.33): never significant, and it says how
 *   many are needed.
 * - 3 or more on both sides (`mann-whitney`): significant when the exact two-sided Mann–Whitney U test
 *   gives p ≤ `alpha` (default 0.1; with 3 vs 3 that means the repetition ranges do not overlap) **and**
 *   the change of the median exceeds both `noiseFactor` (default 2) × the larger coefficient of variation
 *   (stdev / mean) of the two sides and `minEffect` (default 5 %, below which a change between two
 *   runs on one machine is routinely noise).
 */

export type TestMethod = 'none' | 'mann-whitney'

/** Repetitions each side needs before a change can be called significant. */
export const MIN_REPETITIONS = 3

export interface NoiseTestOptions {
  /** significance level of the Mann–Whitney test (default 0.1) */
  alpha?: number
  /** the change must exceed this × the larger CV (default 2) */
  noiseFactor?: number
  /** …and this fraction (default 0.05 = 5 %) */
  minEffect?: number
}

export interface NoiseTest {
  method: TestMethod
  significant: boolean
  /** exact two-sided Mann–Whitney p (shown for every test with ≥ 1 value a side; decides only for `mann-whitney`) */
  pValue: number | null
  /** whether the value ranges of the two sides are disjoint */
  disjoint: boolean
  /** the change threshold: max(noiseFactor × max CV, minEffect), as a fraction (0.1 = 10 %); null when untested */
  noise: number | null
  /** too few repetitions: how many each side needs (null when tested) */
  needRepetitions: number | null
  /** one line: why it is or is not significant */
  why: string
}

export const DEFAULT_ALPHA = 0.1
export const DEFAULT_NOISE_FACTOR = 2
export const DEFAULT_MIN_EFFECT = 0.05

export const TEST_DESCRIPTION = `With ≥ ${MIN_REPETITIONS} repetitions on both sides: significant when the exact two-sided Mann–Whitney U test gives p ≤ α (0.1; ` +
  'with 3 vs 3 repetitions that means their ranges do not overlap) and the change of the median exceeds both 2 × the larger ' +
  'coefficient of variation of the two sides and 5 %. ' +
  `With fewer than ${MIN_REPETITIONS} repetitions on a side there is too little to tell noise from change: nothing is called significant. ` +
  'With 3 or more scenarios tested, each is tested relative to the run-wide drift (the median HEAD ÷ BASE ratio over them), which is reported, never flagged.'

export function median (values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return NaN
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
}

/** Coefficient of variation: sample stdev / |mean|; 0 for fewer than 2 values or a zero mean. */
export function cv (values: readonly number[]): number {
  const n = values.length
  if (n < 2) return 0
  const mean = values.reduce((a, v) => a + v, 0) / n
  if (mean === 0) return 0
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1))
  return sd / Math.abs(mean)
}

/** Mid-ranks (1-based) of the pooled values, ties sharing the mean of their ranks. */
function midRanks (pooled: readonly number[]): number[] {
  const order = pooled.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0])
  const ranks = new Array<number>(pooled.length)
  for (let i = 0; i < order.length;) {
    let j = i
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++
    const r = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = r
    i = j + 1
  }
  return ranks
}

/**
 * Exact two-sided Mann–Whitney U p-value: the share of all C(n+m, n) ways of choosing which pooled
 * values are "a" whose rank sum is at least as far from its mean as the observed one. Ties take
 * mid-ranks (the permutation distribution is computed on them, so it stays exact). Null when a side is empty.
 */
export function mannWhitneyP (a: readonly number[], b: readonly number[]): number | null {
  const n = a.length
  const m = b.length
  if (n === 0 || m === 0) return null
  const pooled = [...a, ...b]
  // doubled mid-ranks are integers
  const r2 = midRanks(pooled).map((r) => Math.round(r * 2))
  const observed = r2.slice(0, n).reduce((s, v) => s + v, 0)
  const total = r2.reduce((s, v) => s + v, 0)
  const expected = total * n / (n + m)
  const maxSum = total
  // ways[k][s]: number of k-subsets with doubled rank sum s (floats: counts can exceed 2^53 only for huge samples)
  let ways: Float64Array[] = Array.from({ length: n + 1 }, () => new Float64Array(maxSum + 1))
  ways[0]![0] = 1
  for (const r of r2) {
    const next = ways.map((row) => Float64Array.from(row))
    for (let k = 1; k <= n; k++) {
      const prev = ways[k - 1]!
      const cur = next[k]!
      for (let s = r; s <= maxSum; s++) cur[s]! += prev[s - r]!
    }
    ways = next
  }
  const dist = ways[n]!
  let all = 0
  let extreme = 0
  const d = Math.abs(observed - expected) - 1e-9
  for (let s = 0; s <= maxSum; s++) {
    const w = dist[s]!
    if (w === 0) continue
    all += w
    if (Math.abs(s - expected) >= d) extreme += w
  }
  return Math.min(1, extreme / all)
}

/** Whether `head` differs from `base` by more than the noise across repetitions (see the module comment). */
export function noiseTest (base: readonly number[], head: readonly number[], options: NoiseTestOptions = {}): NoiseTest {
  const alpha = options.alpha ?? DEFAULT_ALPHA
  const factor = options.noiseFactor ?? DEFAULT_NOISE_FACTOR
  const minEffect = options.minEffect ?? DEFAULT_MIN_EFFECT
  const pValue = base.length > 0 && head.length > 0 && base.length + head.length <= 400 ? mannWhitneyP(base, head) : null
  const disjoint = base.length > 0 && head.length > 0 &&
    (Math.min(...head) > Math.max(...base) || Math.max(...head) < Math.min(...base))
  if (base.length < MIN_REPETITIONS || head.length < MIN_REPETITIONS || pValue === null) {
    return {
      method: 'none',
      significant: false,
      pValue,
      disjoint,
      noise: null,
      needRepetitions: MIN_REPETITIONS,
      why: `too few repetitions to tell (${base.length} vs ${head.length}): need ≥ ${MIN_REPETITIONS} on each side (-r ${MIN_REPETITIONS})`,
    }
  }
  const mb = median(base)
  const mh = median(head)
  const change = mb === 0 ? (mh === 0 ? 0 : Infinity) : Math.abs(mh / mb - 1)
  const noise = Math.max(factor * Math.max(cv(base), cv(head)), minEffect)
  const rankOk = pValue <= alpha + 1e-12
  const big = change > noise
  const significant = rankOk && big
  const pct = (x: number): string => Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '∞'
  const p = `Mann–Whitney p = ${pValue.toPrecision(2)}`
  const why = significant
    ? `${p} ≤ ${alpha} and the change ${pct(change)} > ${pct(noise)} (noise threshold)`
    : !rankOk
      ? `${p} > ${alpha}${big ? '' : `, change ${pct(change)} ≤ ${pct(noise)}`}`
      : `change ${pct(change)} ≤ ${pct(noise)} (noise threshold; ${p})`
  return { method: 'mann-whitney', significant, pValue, disjoint, noise, needRepetitions: null, why }
}
