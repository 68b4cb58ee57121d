/**
 * Runs the load of one scenario with the right tool (autocannon for http, the raw TCP generator
 * otherwise) and maps the result to the common LoadSummary.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { runHttpLoad } from '../autocannon/index.js'
import { runTcpLoad, type TcpLoadResult } from '../load/tcp-load.js'
import { DEFAULT_WORK_ROUNDS, workDigest } from '@echoplex/handlers'
import { PayloadFactory, type Expect, type LoadFraming } from '../load/payload.js'
import type { LoadSummary, ScenarioConfig } from '@echoplex/results'
import { nativeUnsupported, type EngineChoice } from '../load/native.js'

const workCache = new Map<string, Buffer>()
const WORK_CACHE_MAX = 200_000

/**
 * The expected reply of the `work` handler. Computing it costs the generator as much CPU as the
 * server spends on the request, so digests are memoized: the generator's payloads are the same
 * sequence in every run, so repetitions and later targets verify (fully) at almost no cost.
 */
export function workExpect (rounds: number): (payload: Buffer) => Buffer {
  return (payload) => {
    if (payload.length > 1024) return workDigest(payload, rounds)
    const key = `${rounds}:${payload.toString('latin1')}`
    let d = workCache.get(key)
    if (d === undefined) {
      d = workDigest(payload, rounds)
      if (workCache.size < WORK_CACHE_MAX) workCache.set(key, d)
    }
    return d
  }
}

/** ms one work digest of `rounds` takes here (the median of a few). */
export function digestCostMs (rounds: number): number {
  const b = Buffer.alloc(64, 0x61)
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now()
    workDigest(b, rounds)
    times.push(performance.now() - t0)
  }
  return times.sort((a, b) => a - b)[2]!
}

function digestWorkerUrl (): URL {
  // running from TypeScript sources (tests) the sibling is .ts; compiled, it is .js
  return new URL(import.meta.url.endsWith('.ts') ? './digest-worker.ts' : './digest-worker.js', import.meta.url)
}

/**
 * Fills the work-digest cache for the first `count` payloads the generator will send (its payload
 * sequence is deterministic), on worker threads, before the server starts: verifying work replies
 * then costs the generator nothing while it measures. Resolves with the digests computed.
 */
export async function primeWorkCache (framing: LoadFraming, payloadBytes: number, rounds: number, count: number): Promise<number> {
  if (payloadBytes > 1024) return 0
  const f = new PayloadFactory(framing, payloadBytes, 'echo')
  const todo: Array<{ key: string, payload: Buffer }> = []
  for (let seq = 0; seq < count && workCache.size + todo.length < WORK_CACHE_MAX; seq++) {
    const payload = Buffer.from(f.payload(seq))
    const key = `${rounds}:${payload.toString('latin1')}`
    if (!workCache.has(key)) todo.push({ key, payload })
  }
  if (todo.length === 0) return 0
  const threads = Math.max(1, Math.min(availableParallelism(), Math.ceil(todo.length / 32)))
  const per = Math.ceil(todo.length / threads)
  await Promise.all(Array.from({ length: threads }, (_, i) => {
    const part = todo.slice(i * per, (i + 1) * per)
    if (part.length === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const w = new Worker(digestWorkerUrl(), { workerData: { rounds, payloads: part.map((p) => p.payload) } })
      w.once('message', (digests: Uint8Array[]) => {
        digests.forEach((d, j) => workCache.set(part[j]!.key, Buffer.from(d)))
        resolve()
        void w.terminate()
      })
      w.once('error', reject)
      w.once('exit', (code) => { if (code !== 0) reject(new Error(`digest worker exited (${code})`)) })
    })
  }))
  return todo.length
}

/**
 * How many work digests a run of `scenario` may need: the most the machine could serve (all cores
 * hashing) over warmup + measurement, with headroom, plus the connect phase's probes.
 */
export function workDigestsNeeded (scenario: ScenarioConfig, digestMs: number): number {
  const perSec = availableParallelism() * 1000 / Math.max(0.001, digestMs)
  const n = Math.ceil((scenario.warmupMs + scenario.durationMs) / 1000 * perSec * 1.3) + scenario.connections * scenario.pipeline * 2 + 64
  return Math.min(WORK_CACHE_MAX, n)
}

export function workRoundsOf (options: Record<string, string>): number {
  const n = Number(options.rounds ?? DEFAULT_WORK_ROUNDS)
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_WORK_ROUNDS
}

export interface LoadTargetAddress { host: string, port: number }

function fromTcp (r: TcpLoadResult): LoadSummary {
  const byKind: Record<string, number> = {}
  for (const k of ['refused', 'reset', 'timeout', 'closed', 'mismatch', 'other'] as const) byKind[k] = r.errors[k]
  return {
    tool: 'tcp',
    aborted: r.aborted,
    startedAt: new Date(Date.parse(r.startedAt) + r.options.warmupMs).toISOString(),
    windowMs: Math.round(r.windowMs * 1000) / 1000,
    requests: { sent: r.requests.sent, completed: r.requests.completed },
    throughput: { requestsPerSec: Math.round(r.throughput.requestsPerSec * 100) / 100, bytesPerSec: Math.round(r.throughput.bytesReceivedPerSec) },
    latency: r.latency,
    connectLatency: r.connectLatency,
    mismatches: r.mismatches,
    ...(r.firstMismatch === null ? {} : { firstMismatch: r.firstMismatch }),
    errors: { total: r.errors.total, timeouts: r.errors.timeout, non2xx: 0, byKind, byCode: { ...r.errors.byCode } },
    connectionsOpened: r.connections.opened,
    generator: {
      threads: r.options.threads,
      process: r.cpu.process,
      loadThreads: r.cpu.threads === null
        ? null
        : { userSec: r.cpu.threads.userSec, systemSec: r.cpu.threads.systemSec, totalSec: r.cpu.threads.totalSec, wallSec: r.cpu.threads.wallSec, percentOfOneCore: r.cpu.threads.percentOfOneCore },
      engine: r.engine,
      engineNote: r.engineNote,
    },
    histograms: { latency: r.histograms.latency, connectLatency: r.histograms.connectLatency },
    ...(r.seconds == null ? {} : { seconds: r.seconds }),
    ...(r.options.rate === null ? {} : { openLoop: { rate: r.options.rate, scheduled: r.requests.scheduled, unsent: r.requests.unsent } }),
  }
}

/** Waits for `p`, or resolves null as soon as `signal` aborts (the load then finishes on its own, bounded by its duration). */
function unlessAborted<T> (p: Promise<T>, signal: AbortSignal | undefined): Promise<T | null> {
  if (signal === undefined) return p
  if (signal.aborted) { p.catch(() => {}); return Promise.resolve(null) }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => { p.catch(() => {}); resolve(null) }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v) }, (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e) })
  })
}

/**
 * Loads the server of `scenario` at `address`; null when interrupted. Rejects on a broken load tool
 * only. `rate` (raw TCP only): an open loop at that many requests per second, latency measured from
 * each request's intended send time (coordinated-omission corrected); else a closed loop.
 */
export async function runScenarioLoad (scenario: ScenarioConfig, address: LoadTargetAddress, loadThreads: number, signal?: AbortSignal, engine: EngineChoice = 'auto', rate?: number): Promise<LoadSummary | null> {
  const churn = scenario.mode === 'churn'
  const w = scenario.workload
  if (scenario.loadTool === 'autocannon') {
    return await runHttpLoad({
      host: address.host,
      port: address.port,
      connections: scenario.connections,
      payloadBytes: scenario.payloadBytes,
      durationMs: scenario.durationMs,
      warmupMs: scenario.warmupMs,
      churn,
      pipeline: scenario.pipeline,
      workers: loadThreads,
      ...(signal !== undefined ? { signal } : {}),
    })
  }
  const expect: Expect = w.expect === 'work' ? workExpect(workRoundsOf(w.options)) : w.expect === 'script' ? 'echo' : w.expect
  const r = await unlessAborted(runTcpLoad({
    target: { host: address.host, port: address.port },
    framing: w.framing as 'raw' | 'line' | 'length',
    connections: scenario.connections,
    payloadBytes: scenario.payloadBytes,
    pipeline: scenario.pipeline,
    durationMs: scenario.durationMs,
    warmupMs: scenario.warmupMs,
    churn,
    ...(rate !== undefined ? { mode: 'open' as const, rate } : {}),
    // a function cannot cross threads: `work` verification runs on the calling thread
    threads: typeof expect === 'function' ? 0 : loadThreads,
    expect,
    ...(w.loadScript === undefined ? {} : { script: w.loadScript }),
    // fork may need a child per connection before the first reply; a server that answers none of the
    // first requests is given up on much sooner (firstReplyTimeoutMs, 10 s)
    connectTimeoutMs: 30_000,
    drainMs: 5000,
    // native asked for suite-wide: scenarios it cannot run (work's computed replies) use the Node engine, and
    // their results say why (load.generator.engineNote)
    engine: engine === 'native' && nativeUnsupported({ expect }) !== null ? 'auto' : engine,
  }), signal)
  return r === null ? null : fromTcp(r)
}
