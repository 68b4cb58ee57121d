/**
 * Progress of a suite run on a terminal: a cli-progress bar with the current scenario and the ETA
 * when the stream is a TTY, plain lines (one per finished run) otherwise.
 */
import cliProgress from 'cli-progress'
import type { ProgressEvent } from './run.js'
import { scenarioLabel } from './table.js'
import type { Repetition, ScenarioConfig } from '@echoplex/results'

export interface ProgressReporter {
  onProgress (event: ProgressEvent): void
  /** removes the bar (call before printing anything else) */
  stop (): void
}

export interface ProgressOptions {
  stream?: NodeJS.WriteStream
  /** bar (TTY) or lines; default: whether the stream is a TTY */
  tty?: boolean
}

/** `1m05s`, `42s` */
export function formatEta (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

const label = (sc: ScenarioConfig): string => `${scenarioLabel(sc)} @ ${sc.target.label}`

function outcome (r: Repetition): string {
  if (r.status === 'ok' && r.load !== null) {
    return `ok ${Math.round(r.load.throughput.requestsPerSec).toLocaleString('en-US')} req/s, p99 ${r.load.latency.p99.toFixed(2)} ms${warmedUp(r)}`
  }
  if (r.status === 'failed') return `FAILED: ${r.problems.join('; ')}`
  return r.status
}

/** How the warm-up until steady went, when one ran. */
function warmedUp (r: Repetition): string {
  const w = r.steadyWarmup
  if (w == null) return ''
  const secs = (w.ms / 1000).toFixed(0)
  return w.steady ? ` (steady after ${w.steps.length} warm-up steps, ${secs} s)` : ` (NOT steady after ${secs} s of warm-up: ${w.steps.map((n) => n.toLocaleString('en-US')).join(', ')} req/s)`
}

export function createProgressReporter (options: ProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr
  const tty = options.tty ?? stream.isTTY === true
  let multi: cliProgress.MultiBar | null = null
  let bar: cliProgress.SingleBar | null = null
  const write = (line: string): void => {
    if (multi !== null) multi.log(`${line}\n`)
    else stream.write(`${line}\n`)
  }
  const stop = (): void => {
    if (multi !== null) {
      multi.stop()
      multi = null
      bar = null
    }
  }
  return {
    stop,
    onProgress (e) {
      switch (e.type) {
        case 'start':
          write(`${e.runs} run(s) of ${e.scenarios} scenario(s), about ${formatEta(e.etaMs)}`)
          if (tty && e.runs > 0) {
            multi = new cliProgress.MultiBar({
              stream,
              format: ' {bar} {value}/{total} | ETA {remaining} | {scenario}',
              hideCursor: true,
              clearOnComplete: true,
              barsize: 24,
            }, cliProgress.Presets.shades_classic)
            bar = multi.create(e.runs, 0, { remaining: formatEta(e.etaMs), scenario: 'starting' })
          }
          break
        case 'note':
          write(e.message)
          break
        case 'skip':
          write(`skipped: ${label(e.scenario)}: ${e.reason}`)
          break
        case 'run-start':
          bar?.update(e.index, { remaining: formatEta(e.etaMs), scenario: `${label(e.scenario)} #${e.repetition}` })
          break
        case 'run-end': {
          const line = `[${e.index + 1}/${e.runs}] ${label(e.scenario)} #${e.repetition}: ${outcome(e.result)}`
          if (bar !== null) {
            if (e.result.status !== 'ok') write(line)
            bar.update(e.index + 1, { remaining: formatEta(e.etaMs) })
          } else {
            write(`${line} (ETA ${formatEta(e.etaMs)})`)
          }
          break
        }
        case 'end':
          stop()
          break
      }
    },
  }
}
