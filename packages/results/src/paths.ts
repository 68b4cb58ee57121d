/**
 * Where suites and results live: benchmarks/ of this repository, and the default results file name.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** benchmarks/ of this repository (same from src/ and dist/). */
export const BENCHMARKS_DIR = fileURLToPath(new URL('../../../benchmarks/', import.meta.url))
export const SUITES_DIR = join(BENCHMARKS_DIR, 'suites')
export const RESULTS_DIR = join(BENCHMARKS_DIR, 'results')

/** `<dir>/<suite>-<UTC timestamp>.json`, dir defaulting to benchmarks/results/. */
export function defaultResultsPath (suiteName: string, startedAt: Date = new Date(), dir: string = RESULTS_DIR): string {
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
  return join(dir, `${suiteName}-${stamp}.json`)
}
