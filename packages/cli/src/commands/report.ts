import { basename, dirname, join, resolve } from 'node:path'
import { Command } from 'commander'
import { errors } from '@echoplex/core'
import { RESULTS_DIR } from '@echoplex/results'
import { newestResultsFile, writeReport } from '@echoplex/report'

/** `benchmarks/results/quick-2026-…Z.json` → `quick-2026-…Z` */
export function stem (path: string): string {
  return basename(path).replace(/\.json$/i, '')
}

interface ReportFlags { out?: string }

export function reportCommand (): Command {
  return new Command('report')
    .description('write report.html (one self-contained file with charts) and report.md from results files; with none given, the newest file in benchmarks/results/')
    .argument('[results...]', 'results JSON files written by echoplex bench')
    .option('-o, --out <dir>', 'folder for report.html and report.md (default: a folder named after the (first) results file, next to it)')
    .action((files: string[], flags: ReportFlags) => {
      let paths = files
      if (paths.length === 0) {
        const newest = newestResultsFile(RESULTS_DIR)
        if (newest === null) throw errors.BAD_RESULTS(`no results file in ${RESULTS_DIR} (run echoplex bench first, or name one)`)
        paths = [newest]
      }
      const first = resolve(paths[0]!)
      const out = flags.out !== undefined ? resolve(flags.out) : join(dirname(first), `${stem(first)}${paths.length > 1 ? `+${paths.length - 1}` : ''}`)
      // a missing or invalid file is a ResultsError: EPX_BAD_RESULTS, one line, exit 2
      const written = writeReport(paths, out)
      process.stdout.write(`report.html: ${written.html}\nreport.md: ${written.md}\n`)
    })
}
