import { Command } from 'commander'
import { loadSuite, measureBootCost, measureBootRate, runSuite, type BootRate } from '@echoplex/bench'
import { median } from '@echoplex/report'
import { parseDuration, parseInteger } from '../parse.js'

interface BootCostFlags { runs: number, concurrency: number, duration: number, rounds: number, churn?: boolean, json?: boolean }

interface Churn { perSec: number, ratioToBootRate: number }
/** churn: strict fork as it serves by default (children forked from its zygote); booted: with each child booted (--child-boot snapshot) */
interface Round { rate: BootRate, churn?: Churn & { booted?: Churn } }

/**
 * `echoplex boot-cost`: what a fork child's boot costs next to a bare `node -e 0` on this Node, and
 * (with --churn) strict fork's churn rate next to the rate this machine boots `node -e 0` at the same
 * concurrency — both measured in the one run, so the ratios hold on a shared, noisy machine. With
 * --rounds, the boot rate and the churn are measured in turn, round after round: each ratio pairs
 * figures taken seconds apart, and the spread of the rounds shows the machine's noise.
 */
export function bootCostCommand (): Command {
  return new Command('boot-cost')
    .description('measure a fork child\'s boot CPU against a bare `node -e 0` (ratio), the node -e 0 boot rate at a concurrency, and with --churn strict fork\'s churn rate against it')
    .option('--runs <n>', 'boots of each kind for the CPU comparison', parseInteger(4, 10_000), 40)
    .option('-c, --concurrency <n>', 'concurrent boot loops (and churn clients)', parseInteger(1, 1024), 16)
    .option('-d, --duration <duration>', 'how long the boot rate (and the churn) is measured', parseDuration, 3000)
    .option('--rounds <n>', 'boot rate (and churn) measurements, in turn; the median ratio is the result', parseInteger(1, 100), 1)
    .option('--churn', 'also run strict fork\'s echo churn at the same concurrency and compare')
    .option('--json', 'print the figures as JSON')
    .action(async (flags: BootCostFlags) => {
      const cost = await measureBootCost({ runs: flags.runs })
      const rounds: Round[] = []
      for (let r = 0; r < flags.rounds; r++) {
        const rate = await measureBootRate({ concurrency: flags.concurrency, durationMs: flags.duration })
        rounds.push({ rate, ...(flags.churn === true ? { churn: await strictChurn(flags, rate) } : {}) })
      }
      const ratios = rounds.flatMap((r) => r.churn === undefined ? [] : [r.churn.ratioToBootRate])
      const churnRatio = ratios.length === 0 ? undefined : Math.round(median(ratios) * 100) / 100
      if (flags.json === true) {
        // rate and churn: the first round's (as before --rounds); rounds: all of them
        process.stdout.write(`${JSON.stringify({ cost, rate: rounds[0]!.rate, churn: rounds[0]!.churn, rounds, churnRatio }, null, 2)}\n`)
        return
      }
      const lines = [
        `node ${cost.node}, ${cost.runs} boots of each; fork child entry ${cost.entry}`,
        `boot CPU: node -e 0 ${cost.bareCpuMs.toFixed(1)} ms, fork child ${cost.childCpuMs.toFixed(1)} ms (from ${cost.childBoot === 'snapshot' ? 'its startup snapshot' : 'its entry'}): ratio ${cost.ratio.toFixed(2)}× (wall ${cost.bareWallMs.toFixed(0)} / ${cost.childWallMs.toFixed(0)} ms)`,
        cost.entryCpuMs !== null && cost.entryRatio !== null
          ? `  the same child from its entry (--child-boot bundle): ${cost.entryCpuMs.toFixed(1)} ms, ratio ${cost.entryRatio.toFixed(2)}×`
          : `  no startup snapshot: ${cost.snapshotNote ?? 'unknown'}`,
      ]
      if (cost.extraCaCerts !== null) {
        const parsing = cost.bareCpuMs - cost.extraCaCerts.bareCpuMs
        lines.push(`  NODE_EXTRA_CA_CERTS is set (${cost.extraCaCerts.path}): node -e 0 without it ${cost.extraCaCerts.bareCpuMs.toFixed(1)} ms, so ${parsing.toFixed(1)} ms of every boot here is that bundle (Node before 22 parses it at start; every boot above, and the boot rate, pay it)`)
      }
      rounds.forEach(({ rate, churn }, i) => {
        const round = flags.rounds > 1 ? `round ${i + 1}: ` : ''
        lines.push(`${round}node -e 0 boot rate at ${rate.concurrency} concurrent: ${rate.perSec.toFixed(1)}/s (${rate.boots} boots in ${rate.durationMs} ms)`)
        if (churn !== undefined) lines.push(`${round}strict fork echo churn at ${flags.concurrency} concurrent (unpinned, like the boot loops): ${churn.perSec.toFixed(1)} connections/s = ${churn.ratioToBootRate.toFixed(2)}× the node -e 0 boot rate`)
        if (churn?.booted !== undefined) lines.push(`${round}  the same with each child booted (--child-boot snapshot, 4 spares): ${churn.booted.perSec.toFixed(1)} connections/s = ${churn.booted.ratioToBootRate.toFixed(2)}×`)
      })
      if (churnRatio !== undefined && rounds.length > 1) lines.push(`strict fork churn ÷ node -e 0 boot rate, median of ${rounds.length} rounds: ${churnRatio.toFixed(2)}× (rounds ${ratios.map((r) => r.toFixed(2)).join(', ')})`)
      process.stdout.write(`${lines.join('\n')}\n`)
    })
}

/**
 * Strict fork's echo churn, one repetition of `duration`, against the boot rate just measured: as it
 * serves by default (its children forked from its zygote), and with each child booted (the churn
 * suite's fork-booted target).
 */
async function strictChurn (flags: BootCostFlags, rate: BootRate): Promise<Churn & { booted?: Churn }> {
  const suite = loadSuite('churn', { models: ['fork'], workloads: ['echo'], connections: [flags.concurrency], peers: false, repetitions: 1, durationMs: flags.duration })
  // unpinned, like the boot rate it is compared with: both have every CPU (the bench's default
  // pinning would give the server half of them). At these rates the load generator's share is small
  const results = await runSuite(suite, { outPath: null, pin: 'none' })
  const churnOf = (label: string): Churn | undefined => {
    const perSec = results.scenarios.find((s) => s.target.label === label)?.summary?.requestsPerSec?.median
    return perSec == null ? undefined : { perSec: Math.round(perSec * 10) / 10, ratioToBootRate: Math.round(perSec / rate.perSec * 100) / 100 }
  }
  const booted = churnOf('fork-booted')
  return { ...(churnOf('fork') ?? { perSec: 0, ratioToBootRate: 0 }), ...(booted === undefined ? {} : { booted }) }
}
