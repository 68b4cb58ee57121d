/**
 * Suite runs started from the dashboard: one at a time. Each run keeps its progress events so a page
 * that subscribes late (or reconnects) gets the whole story, then the live tail. Stopping the
 * dashboard aborts the run in progress and waits for its server to be stopped.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { basename } from 'node:path'
import { EchoplexError, entryOptions, errors } from '@echoplex/core'
import { formatEta, killAllServers, runSuite, scenarioLabel, type ProgressEvent } from '@echoplex/bench'
import { defaultResultsPath, type Results, type SuiteConfig } from '@echoplex/results'

export type RunState = 'running' | 'done' | 'failed'

export interface RunEvent {
  /** 1-based, in order (SSE `id:`) */
  seq: number
  /** start | progress | note | skip | done | failed */
  type: string
  data: Record<string, unknown>
}

export interface RunInfo {
  id: string
  suite: string
  state: RunState
  resultsName: string
  startedAt: string
  percent: number
  etaMs: number | null
  /** the scenario running now */
  current: string | null
}

type Listener = (event: RunEvent) => void

export class Run {
  readonly id = randomBytes(6).toString('hex')
  readonly startedAt = new Date()
  readonly events: RunEvent[] = []
  state: RunState = 'running'
  percent = 0
  etaMs: number | null = null
  current: string | null = null
  results: Results | null = null
  readonly controller = new AbortController()
  private readonly listeners = new Set<Listener>()
  /** settles when the run has ended (never rejects) */
  finished: Promise<void> = Promise.resolve()

  constructor (readonly suite: SuiteConfig, readonly outPath: string) {}

  get resultsName (): string { return basename(this.outPath) }

  info (): RunInfo {
    return {
      id: this.id,
      suite: this.suite.name,
      state: this.state,
      resultsName: this.resultsName,
      startedAt: this.startedAt.toISOString(),
      percent: this.percent,
      etaMs: this.etaMs,
      current: this.current,
    }
  }

  emit (type: string, data: Record<string, unknown>): void {
    const event: RunEvent = { seq: this.events.length + 1, type, data }
    this.events.push(event)
    for (const l of [...this.listeners]) {
      try { l(event) } catch { /* one broken subscriber must not break the run */ }
    }
  }

  /** Replays the past events to `listener`, then calls it for every new one; returns unsubscribe. */
  subscribe (listener: Listener, afterSeq = 0): () => void {
    for (const e of this.events) if (e.seq > afterSeq) listener(e)
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  get ended (): boolean { return this.state !== 'running' }
}

const round1 = (n: number): number => Math.round(n * 10) / 10

/** Turns the runner's progress events into the dashboard's (plain JSON, no configs). */
export function translate (run: Run, e: ProgressEvent): void {
  switch (e.type) {
    case 'start':
      run.etaMs = e.etaMs
      run.emit('start', { runs: e.runs, scenarios: e.scenarios, etaMs: e.etaMs, eta: formatEta(e.etaMs), percent: 0, resultsName: run.resultsName })
      break
    case 'note':
      run.emit('note', { message: e.message })
      break
    case 'skip':
      run.emit('skip', { scenario: `${scenarioLabel(e.scenario)} @ ${e.scenario.target.label}`, reason: e.reason })
      break
    case 'run-start':
    case 'run-end': {
      const finished = e.type === 'run-end' ? e.index + 1 : e.index
      run.percent = e.runs === 0 ? 100 : round1(finished / e.runs * 100)
      run.etaMs = e.etaMs
      const scenario = `${scenarioLabel(e.scenario)} @ ${e.scenario.target.label}`
      run.current = e.type === 'run-start' ? `${scenario} #${e.repetition}` : null
      const data: Record<string, unknown> = {
        phase: e.type === 'run-start' ? 'running' : 'finished',
        index: e.index,
        runs: e.runs,
        scenario,
        id: e.scenario.id,
        target: e.scenario.target.label,
        repetition: e.repetition,
        percent: run.percent,
        etaMs: e.etaMs,
        eta: formatEta(e.etaMs),
      }
      if (e.type === 'run-end') {
        const r = e.result
        data.status = r.status
        data.requestsPerSec = r.load === null ? null : Math.round(r.load.throughput.requestsPerSec)
        data.p99Ms = r.load === null ? null : r.load.latency.p99
        data.problems = r.problems
      }
      run.emit('progress', data)
      break
    }
    case 'end':
      break
  }
}

export interface StartOptions {
  resultsDir: string
  /** passed to runSuite (tests) */
  echoplexBin?: string
}

/** Another run is in progress: EPX_RUN_IN_PROGRESS, 409. */
export class BusyError extends EchoplexError {
  override name = 'BusyError'
  constructor (readonly run: Run) {
    super(errors.RUN_IN_PROGRESS.code, errors.RUN_IN_PROGRESS(run.id, run.suite.name, run.percent).message, entryOptions(errors.RUN_IN_PROGRESS))
  }
}

/** One run at a time; the last few ended runs are kept for late subscribers. */
export class RunManager {
  private readonly runs = new Map<string, Run>()
  private active: Run | null = null
  private closing = false

  constructor (private readonly options: StartOptions, private readonly keep = 20) {}

  get current (): Run | null { return this.active }

  get (id: string): Run | undefined { return this.runs.get(id) }

  list (): RunInfo[] { return [...this.runs.values()].reverse().map((r) => r.info()) }

  /** Starts a suite in the background; throws BusyError while another runs. */
  start (suite: SuiteConfig): Run {
    if (this.closing) throw errors.DASHBOARD_STOPPING()
    if (this.active !== null) throw new BusyError(this.active)
    let outPath = defaultResultsPath(suite.name, new Date(), this.options.resultsDir)
    // two runs of a suite in the same second: the second gets a suffix instead of overwriting
    for (let i = 2; this.taken(outPath); i++) outPath = outPath.replace(/(-\d+)?\.json$/, `-${i}.json`)
    const run = new Run(suite, outPath)
    this.active = run
    this.runs.set(run.id, run)
    while (this.runs.size > this.keep) {
      const oldest = [...this.runs.values()].find((r) => r.ended)
      if (oldest === undefined) break
      this.runs.delete(oldest.id)
    }
    run.finished = (async () => {
      try {
        const results = await runSuite(suite, {
          signal: run.controller.signal,
          outPath,
          onProgress: (e) => translate(run, e),
          ...(this.options.echoplexBin === undefined ? {} : { echoplexBin: this.options.echoplexBin }),
        })
        run.results = results
        const count = (s: string): number => results.scenarios.filter((x) => x.status === s).length
        run.state = 'done'
        run.percent = results.complete ? 100 : run.percent
        run.etaMs = 0
        run.current = null
        run.emit('done', {
          name: run.resultsName,
          url: `/runs/${encodeURIComponent(run.resultsName)}`,
          complete: results.complete,
          interrupted: results.interrupted,
          scenarios: results.scenarios.length,
          ok: count('ok'),
          failed: count('failed'),
          skipped: count('skipped'),
          percent: run.percent,
          durationMs: results.durationMs,
        })
      } catch (e) {
        run.state = 'failed'
        run.current = null
        run.emit('failed', { message: ((e as Error)?.message ?? String(e)).split('\n')[0] })
      } finally {
        if (this.active === run) this.active = null
      }
    })()
    return run
  }

  private taken (path: string): boolean {
    for (const r of this.runs.values()) if (r.outPath === path) return true
    return existsSync(path)
  }

  /** Asks the run to stop (partial results are written); resolves when it has. */
  async stop (id: string): Promise<boolean> {
    const run = this.runs.get(id)
    if (run === undefined || run.ended) return false
    run.controller.abort('stopped from the dashboard')
    await run.finished
    return true
  }

  /** Stops everything (the dashboard is closing): no server outlives it. */
  async close (timeoutMs = 15_000): Promise<void> {
    this.closing = true
    const run = this.active
    if (run !== null) {
      run.controller.abort('the dashboard stopped')
      let timer: NodeJS.Timeout | undefined
      await Promise.race([run.finished, new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
      clearTimeout(timer)
    }
    killAllServers()
  }
}
