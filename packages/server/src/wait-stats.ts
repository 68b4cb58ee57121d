/** Summary of a list of waits in milliseconds (fork spawn waits: connect → child serving). */
export interface WaitSummary {
  count: number
  meanMs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export function summarizeWaits (waits: readonly number[]): WaitSummary {
  if (waits.length === 0) return { count: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }
  const sorted = [...waits].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
  const round = (n: number): number => Math.round(n * 1000) / 1000
  return {
    count: sorted.length,
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    p50Ms: round(at(0.5)),
    p99Ms: round(at(0.99)),
    maxMs: round(sorted[sorted.length - 1]!),
  }
}
