/**
 * @echoplex/report: readable reports of benchmark results (self-contained HTML with SVG charts, and
 * Markdown), and comparisons of two runs that say whether a difference exceeds the noise.
 *
 *   buildReport(results[]) → ReportModel          renderReportHtml(model) / renderReportMarkdown(model)
 *   writeReport(paths[], outDir) → { html, md }   (reads and validates the files, writes report.html + report.md)
 *   compareResults(base, head, opts) → Comparison renderCompareHtml(c) / renderCompareMarkdown(c) / formatCompareTable(c)
 *   writeCompare(basePath, headPath, outDir, opts) → { html, md, comparison }
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { readResults, ResultsError, RESULTS_DIR, type Results } from '@echoplex/results'
import { compareResults, type CompareOptions, type Comparison } from './compare.js'
import { renderCompareHtml, renderReportHtml } from './html.js'
import { renderCompareMarkdown, renderReportMarkdown } from './markdown.js'
import { buildReport, type BuildOptions } from './model.js'

export { buildReport, groupLabel, runInfo, PEER_ORDER } from './model.js'
export type { BuildOptions, PeerRatio, ReportGroup, ReportModel, RunInfo, TargetRow } from './model.js'
export { buildVerdicts, NOT_MEASURED } from './verdicts.js'
export type { Verdict, VerdictCategory, VerdictEntry } from './verdicts.js'
export { compareResults, compareCells, driftLine, formatCompareTable, MARKERS, MIN_DRIFT_SCENARIOS } from './compare.js'
export type { Change, CompareOptions, ComparedScenario, Comparison, Direction, MetricChange, OneSided } from './compare.js'
export { cv, mannWhitneyP, median, noiseTest, DEFAULT_ALPHA, DEFAULT_NOISE_FACTOR, DEFAULT_MIN_EFFECT, MIN_REPETITIONS, TEST_DESCRIPTION } from './stats.js'
export type { NoiseTest, NoiseTestOptions, TestMethod } from './stats.js'
export { barChart, latencyChart, logLineChart, memoryChart, niceTicks, throughputChart, PALETTE, PERCENTILES } from './charts.js'
export type { BarChartOptions, BarDatum, LineChartOptions, LineSeries } from './charts.js'
export { renderReportHtml, renderCompareHtml, EVENT_LOOP_NOTE, EXTRA_CA_CERTS_NOTE, FORK_NOTE, FORK_REUSE_COLD_NOTE } from './html.js'
export { renderReportMarkdown, renderCompareMarkdown } from './markdown.js'
export * from './format.js'

/** Reads (validating) every results file: throws @echoplex/results' ResultsError with a one-line reason. */
export function readAll (paths: string[]): Results[] {
  return paths.map((p) => readResults(p))
}

/**
 * Reads the results files, builds the report and writes `report.html` and `report.md` into `outDir`
 * (created). Returns the two paths. Throws ResultsError (one line) for a missing or invalid file.
 */
export function writeReport (resultsPaths: string[], outDir: string, options: BuildOptions = {}): { html: string, md: string } {
  if (resultsPaths.length === 0) throw new ResultsError('no results file given')
  const results = readAll(resultsPaths)
  const model = buildReport(results, { paths: resultsPaths.map((p) => resolve(p)), ...options })
  mkdirSync(outDir, { recursive: true })
  const html = join(outDir, 'report.html')
  const md = join(outDir, 'report.md')
  writeFileSync(html, renderReportHtml(model))
  writeFileSync(md, renderReportMarkdown(model))
  return { html, md }
}

/** Compares two results files and writes `compare.html` and `compare.md` into `outDir` (created). */
export function writeCompare (basePath: string, headPath: string, outDir: string, options: CompareOptions = {}): { html: string, md: string, comparison: Comparison } {
  const [base, head] = readAll([basePath, headPath]) as [Results, Results]
  const comparison = compareResults(base, head, { basePath: resolve(basePath), headPath: resolve(headPath), ...options })
  mkdirSync(outDir, { recursive: true })
  const html = join(outDir, 'compare.html')
  const md = join(outDir, 'compare.md')
  writeFileSync(html, renderCompareHtml(comparison))
  writeFileSync(md, renderCompareMarkdown(comparison))
  return { html, md, comparison }
}

/** The newest (by modification time, then name) `*.json` in `dir` (default benchmarks/results/), or null. */
export function newestResultsFile (dir: string = RESULTS_DIR): string | null {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'))
  } catch {
    return null
  }
  const files = names.flatMap((n) => {
    try {
      const st = statSync(join(dir, n))
      return st.isFile() ? [{ path: join(dir, n), mtime: st.mtimeMs, n }] : []
    } catch { return [] }
  })
  files.sort((a, b) => b.mtime - a.mtime || (a.n < b.n ? 1 : a.n > b.n ? -1 : 0))
  return files[0]?.path ?? null
}
