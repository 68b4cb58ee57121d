import { dirname, join, resolve } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { exitProcess } from '@echoplex/core'
import { formatCompareTable, writeCompare, DEFAULT_ALPHA, DEFAULT_MIN_EFFECT, DEFAULT_NOISE_FACTOR, MIN_REPETITIONS } from '@echoplex/report'
import { stem } from './report.js'

interface CompareFlags { out?: string, failOnRegression?: number, alpha?: number, noiseFactor?: number, minEffect?: number }

/** `10`, `10%`, `2.5` → percent ≥ 0 */
function percent (value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*%?$/.exec(value.trim())
  if (m === null) throw new InvalidArgumentError('expected a percentage such as 10 or 2.5%')
  return Number(m[1])
}

function probability (value: string): number {
  const n = Number(value)
  if (!/^\d*\.?\d+$/.test(value.trim()) || !(n > 0 && n < 1)) throw new InvalidArgumentError('expected a number between 0 and 1, e.g. 0.05')
  return n
}

function positive (value: string): number {
  const n = Number(value)
  if (!/^\d*\.?\d+$/.test(value.trim()) || !(n > 0)) throw new InvalidArgumentError('expected a positive number')
  return n
}

export function compareCommand (): Command {
  return new Command('compare')
    .description('compare two results files scenario by scenario: medians, ratio, and whether the change exceeds the noise across repetitions; writes compare.html and compare.md')
    .argument('<base>', 'results file of the base run')
    .argument('<head>', 'results file of the run to judge')
    .option('-o, --out <dir>', 'folder for compare.html and compare.md (default: compare-<BASE>-vs-<HEAD> next to HEAD)')
    .option('--fail-on-regression <pct>', 'exit 1 when a significant throughput regression exceeds PCT percent (or a scenario ok in BASE failed in HEAD)', percent)
    .option('--alpha <p>', `significance level of the Mann–Whitney test (default ${DEFAULT_ALPHA})`, probability)
    .option('--noise-factor <k>', `a change must exceed k × the larger coefficient of variation (default ${DEFAULT_NOISE_FACTOR})`, positive)
    .option('--min-effect <pct>', `…and this many percent (default ${DEFAULT_MIN_EFFECT * 100}%)`, percent)
    .addHelpText('after', `
Significance: with ≥ ${MIN_REPETITIONS} repetitions on both sides, a change counts when the exact two-sided
Mann–Whitney U test gives p ≤ alpha (with 3 vs 3: the repetition ranges do not overlap) and the
change of the median exceeds both noise-factor × the larger coefficient of variation and min-effect.
With fewer than ${MIN_REPETITIONS} repetitions on a side nothing is called significant: "too few repetitions
to tell" (run both with -r ${MIN_REPETITIONS} or more).`)
    .action((base: string, head: string, flags: CompareFlags) => {
      const out = flags.out !== undefined ? resolve(flags.out) : join(dirname(resolve(head)), `compare-${stem(base)}-vs-${stem(head)}`)
      // a missing or invalid file is a ResultsError: EPX_BAD_RESULTS, one line, exit 2
      const written = writeCompare(base, head, out, {
        failOnRegressionPct: flags.failOnRegression ?? null,
        ...(flags.alpha === undefined ? {} : { alpha: flags.alpha }),
        ...(flags.noiseFactor === undefined ? {} : { noiseFactor: flags.noiseFactor }),
        ...(flags.minEffect === undefined ? {} : { minEffect: flags.minEffect / 100 }),
      })
      const c = written.comparison
      process.stdout.write(`${formatCompareTable(c)}\n\ncompare.html: ${written.html}\ncompare.md: ${written.md}\n`)
      if (c.gate.failed) {
        process.stderr.write(`echoplex: significant regression beyond ${c.failOnRegressionPct}%: ${c.gate.reasons.join('; ')}\n`)
        exitProcess(1)
      }
    })
}
