/**
 * The raw TCP load generator: drives `raw`, `line` and `length` echo-style servers (autocannon only
 * speaks HTTP), verifies every reply byte, and measures throughput, latency, connect → first echoed
 * byte, errors by kind and its own CPU use.
 *
 * - Closed loop (`mode: 'closed'`): each connection keeps `pipeline` requests outstanding; a reply must
 *   arrive before the next request goes out on that slot. Latency runs from the actual send.
 * - Open loop (`mode: 'open'`, `rate`): requests are scheduled at fixed intended send times, the rate
 *   split evenly across connections (see `openLoopSchedule`); at most `pipeline` are outstanding per
 *   connection. Latency runs from the INTENDED send time, not the actual one (coordinated-omission
 *   correction, as wrk2 does): when the server stalls, requests that should have gone out during the
 *   stall are charged the wait, so the stall shows in the tail instead of disappearing.
 * - Churn (`churn: true`): every request gets its own connection (connect, send one payload, read the
 *   reply, close); `latency` is then the whole transaction and `connectLatency` is recorded for each.
 *
 * Every run is bounded (`durationMs` and/or `amount`, plus a time limit and a hard timeout) and ends
 * with every socket destroyed and every worker thread terminated.
 */
import { Worker } from 'node:worker_threads'
import os from 'node:os'
import { absNow } from './clock.js'
import { LoadEngine } from './engine.js'
import type { EngineConfig, LoadMode, LoadTarget } from './engine.js'
import { emptyErrorCounts } from './result.js'
import { procSysConf } from '@echoplex/proc'
import type { EngineResult, ErrorCounts, ThreadCpu } from './result.js'
import { cpuPercentOfOneCore, mergeHistograms, encodeHistogram, ratePerSecond, summarizeLatency } from './latency.js'
import type { LatencySummary } from './latency.js'
import type { Expect, LoadFraming } from './payload.js'
import { loadLoadScript, validateLoadScript, type LoadScript } from './script.js'
import type { FromWorker, ToWorker } from './tcp-worker.js'
import { mergeSeconds, type EngineSeconds, type LoadSeconds } from './per-second.js'
import { nativeHandle, selectEngine } from './native.js'
import type { EngineChoice, EngineSelection } from './native.js'

export type { LoadMode, LoadTarget } from './engine.js'
export type { ErrorCounts } from './result.js'

/** Longest measured duration a run may ask for. */
export const MAX_DURATION_MS = 10 * 60 * 1000
/** Time limit of a run bounded by `amount` only. */
export const DEFAULT_AMOUNT_TIME_LIMIT_MS = 60 * 1000
export const MAX_DRAIN_MS = 10_000

export interface TcpLoadOptions {
  /** `{ host, port }` (host defaults to 127.0.0.1) or `{ path }` for a UNIX socket. */
  target: LoadTarget
  framing: LoadFraming
  /** Connections (with churn: concurrent connect-request-close loops). Default 1. */
  connections?: number
  /** Payload size without framing (the `\n` of line and the 4-byte header of length come on top). Default 64. */
  payloadBytes?: number
  /** Requests in flight per connection. Default 1; ignored with churn. */
  pipeline?: number
  /** Measured duration (after warmup), ms, at most MAX_DURATION_MS. With `amount`, a time limit. */
  durationMs?: number
  /** Measured requests in total. Alone, the run is limited to DEFAULT_AMOUNT_TIME_LIMIT_MS. */
  amount?: number
  /** Default 'closed'. */
  mode?: LoadMode
  /** Open loop: requests per second, all connections together. */
  rate?: number
  /**
   * Worker threads the connections are spread over. Default 1. 0 runs the load on the calling thread
   * (no worker start-up; it then shares that thread's event loop with whatever else runs there).
   */
  threads?: number
  /**
   * The expected reply: 'echo' (default), 'upper' (ASCII upper-casing), or a function from request
   * payload to reply payload (framed like the request). A function cannot cross threads: the load then
   * runs on the calling thread (`threads` must be 0 or 1 and is reported as 0).
   */
  expect?: Expect
  /**
   * A load script (see script.ts): its absolute path (imported in every load thread) or the script
   * itself (which, like a function `expect`, keeps the load on the calling thread). Replaces `expect`
   * and `payloadBytes`.
   */
  script?: string | LoadScript
  /** Connect timeout (in the connect phase it also covers the probe's reply). Default 5000. */
  connectTimeoutMs?: number
  /**
   * Connect phase: when connections open but none of a load thread's probes is answered this long
   * after its first connection, the server does not answer these requests: give up then (NO_REPLY).
   * Default: the smaller of 10 s and the connect timeout.
   */
  firstReplyTimeoutMs?: number
  /** Load applied before measuring starts. Default 0. */
  warmupMs?: number
  /** How long to wait for outstanding replies after the end, at most MAX_DRAIN_MS. Default 1000. */
  drainMs?: number
  /** A new connection per request. Default false. */
  churn?: boolean
  /**
   * Which engine drives the sockets: 'node' (worker threads), 'native' (the compiled C engine of
   * native.ts, one process per thread; fails when it cannot run), or 'auto' (default: native when it
   * can, else node, the result saying why).
   */
  engine?: EngineChoice
}

export interface CpuUsageSummary {
  userSec: number
  systemSec: number
  totalSec: number
  wallSec: number
  /** (user + system) / wall × 100: 100 is one core fully busy. */
  percentOfOneCore: number
}

export interface TcpLoadResult {
  /** No mismatch, no error, not aborted, and at least one request completed. */
  ok: boolean
  /** The engine that ran: 'native' (compiled C, see native.ts) or 'node'. */
  engine: 'node' | 'native'
  /** Why the Node engine ran although auto/native was asked for (e.g. no C compiler); else null. */
  engineNote: string | null
  /** Why the run ended early, or null. */
  aborted: string | null
  /** `host:port` or the socket path. */
  target: string
  options: {
    framing: LoadFraming
    mode: LoadMode
    churn: boolean
    connections: number
    threads: number
    pipeline: number
    payloadBytes: number
    rate: number | null
    durationMs: number | null
    amount: number | null
    warmupMs: number
    drainMs: number
    connectTimeoutMs: number
    expect: 'echo' | 'upper' | 'custom' | 'script'
  }
  /** ISO time the load started. */
  startedAt: string
  /** The measured window: from the end of warmup to the later of the stop of sending and the last reply. */
  windowMs: number
  connections: {
    /** Connections set up and verified (probe echoed) before the load started. */
    ready: number
    /** Connections opened in the measured window (reconnects; with churn, one per measured request). */
    opened: number
  }
  requests: {
    sent: number
    completed: number
    /** Sent but never completely answered (lost with a dropped connection, or unanswered at the end). */
    incomplete: number
    /** Open loop: requests scheduled in the measured window (0 in closed loop). */
    scheduled: number
    /** Open loop: scheduled but never sent because every slot was busy or the connection was down. */
    unsent: number
  }
  /** Wire bytes of measured requests sent, and of their replies completely received and verified. */
  bytes: { sent: number, received: number }
  mismatches: number
  /** What the first mismatched reply looked like (expected vs got), or null. */
  firstMismatch: string | null
  errors: ErrorCounts
  throughput: { requestsPerSec: number, bytesSentPerSec: number, bytesReceivedPerSec: number }
  /** Request latency in ms (open loop: from the intended send time; churn: the whole transaction). */
  latency: LatencySummary
  /** Connect initiated → first reply byte, per connection, in ms. */
  connectLatency: LatencySummary
  /** Encoded HDR histograms (µs, compressed base64) for merging runs later. */
  histograms: { latency: string, connectLatency: string }
  /** Per second since the load started (warmup included): completions and p99; null when an engine did not record them. */
  seconds: LoadSeconds | null
  cpu: {
    /** The whole generator over the whole call: this process (with anything else running in it), plus the native engine processes when they ran. */
    process: CpuUsageSummary
    /** The load threads only, over the run (Linux); `percentOfOneCore` sums threads. Null elsewhere. */
    threads: (CpuUsageSummary & { perThread: CpuUsageSummary[] }) | null
    /** Cores available to this process. */
    cores: number
  }
}

interface Normalized {
  target: LoadTarget
  framing: LoadFraming
  connections: number
  payloadBytes: number
  pipeline: number
  durationMs: number | null
  amount: number | null
  mode: LoadMode
  rate: number | null
  threads: number
  expect: Expect
  script: string | LoadScript | null
  connectTimeoutMs: number
  firstReplyTimeoutMs: number
  warmupMs: number
  drainMs: number
  churn: boolean
  engine: EngineChoice
}

function positiveInt (name: string, v: number | undefined, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${v}`)
  return v
}

function nonNegative (name: string, v: number | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt
  if (!Number.isFinite(v) || v < 0 || v > max) throw new RangeError(`${name} must be a number from 0 to ${max}, got ${v}`)
  return v
}

/** Checks options and fills in defaults; throws a RangeError/TypeError with a one-line reason. */
export function normalizeTcpLoadOptions (o: TcpLoadOptions): Normalized {
  if (o === null || typeof o !== 'object') throw new TypeError('options must be an object')
  const t = o.target as Partial<{ host: string, port: number, path: string }> | undefined
  if (t === undefined || t === null || typeof t !== 'object') throw new TypeError('target must be { host, port } or { path }')
  let target: LoadTarget
  if (typeof t.path === 'string' && t.path !== '') target = { path: t.path }
  else if (Number.isInteger(t.port) && t.port! > 0 && t.port! < 65536) target = { host: t.host ?? '127.0.0.1', port: t.port! }
  else throw new TypeError('target must be { host, port } with a port from 1 to 65535, or { path }')
  if (!['raw', 'line', 'length'].includes(o.framing)) throw new RangeError(`framing must be raw, line or length, got ${String(o.framing)}`)
  const mode = o.mode ?? 'closed'
  if (mode !== 'closed' && mode !== 'open') throw new RangeError(`mode must be closed or open, got ${String(mode)}`)
  let rate: number | null = null
  if (mode === 'open') {
    if (o.rate === undefined || !Number.isFinite(o.rate) || o.rate <= 0) throw new RangeError('open loop needs a positive rate (requests/s)')
    rate = o.rate
  }
  if (o.durationMs === undefined && o.amount === undefined) throw new RangeError('a run needs a bound: durationMs and/or amount')
  const durationMs = o.durationMs === undefined ? null : nonNegative('durationMs', o.durationMs, 0, MAX_DURATION_MS)
  if (durationMs === 0) throw new RangeError('durationMs must be positive')
  const amount = o.amount === undefined ? null : positiveInt('amount', o.amount, 1)
  const expect = o.expect ?? 'echo'
  if (expect !== 'echo' && expect !== 'upper' && typeof expect !== 'function') throw new RangeError('expect must be echo, upper or a function')
  const script = o.script ?? null
  if (script !== null && typeof script !== 'string') {
    const why = validateLoadScript(script, o.framing)
    if (why !== undefined) throw new RangeError(`script: ${why}`)
  }
  if (typeof script === 'string' && !script.startsWith('/')) throw new RangeError('script must be an absolute path or a load script object')
  const connections = positiveInt('connections', o.connections, 1, 100_000)
  let threads = o.threads === 0 ? 0 : positiveInt('threads', o.threads, 1, 256)
  if (typeof expect === 'function' || (script !== null && typeof script !== 'string')) {
    if (threads > 1) throw new RangeError(`${typeof expect === 'function' ? 'expect as a function' : 'a script object'} runs on the calling thread: threads must be 0 or 1`)
    threads = 0
  }
  const connectTimeoutMs = positiveInt('connectTimeoutMs', o.connectTimeoutMs, 5000, 120_000)
  threads = Math.min(threads, connections, amount ?? Infinity)
  return {
    target,
    framing: o.framing,
    connections,
    payloadBytes: positiveInt('payloadBytes', o.payloadBytes, 64, 16 * 1024 * 1024),
    pipeline: o.churn === true ? 1 : positiveInt('pipeline', o.pipeline, 1, 100_000),
    durationMs,
    amount,
    mode,
    rate,
    threads,
    expect,
    script,
    connectTimeoutMs,
    firstReplyTimeoutMs: positiveInt('firstReplyTimeoutMs', o.firstReplyTimeoutMs, Math.min(10_000, connectTimeoutMs), 120_000),
    warmupMs: nonNegative('warmupMs', o.warmupMs, 0, MAX_DURATION_MS),
    drainMs: nonNegative('drainMs', o.drainMs, 1000, MAX_DRAIN_MS),
    churn: o.churn === true,
    engine: o.engine ?? 'auto',
  }
}

/** Splits `total` into `parts` integers as even as possible (the first ones get the remainder). */
export function splitEvenly (total: number, parts: number): number[] {
  const base = Math.floor(total / parts)
  const extra = total - base * parts
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0))
}

interface EngineHandle {
  readonly ready: Promise<{ ready: number, failed: number }>
  start (startAt: number): Promise<EngineResult>
  abort (): Promise<EngineResult>
  stop (): void
  dispose (): Promise<void>
}

function workerUrl (): URL {
  // running from TypeScript sources (tests) the sibling is .ts; compiled, it is .js
  return new URL(import.meta.url.endsWith('.ts') ? './tcp-worker.ts' : './tcp-worker.js', import.meta.url)
}

interface Deferred<T> { promise: Promise<T>, resolve: (v: T) => void, reject: (e: Error) => void }

function deferred<T> (): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  promise.catch(() => {}) // observed by whoever awaits it; never an unhandled rejection
  return { promise, resolve, reject }
}

function workerHandle (cfg: EngineConfig): EngineHandle {
  const worker = new Worker(workerUrl(), { workerData: cfg })
  const ready = deferred<{ ready: number, failed: number }>()
  const result = deferred<EngineResult>()
  // settling an already settled promise is a no-op, so a failure after the result changes nothing
  const fail = (e: Error): void => { ready.reject(e); result.reject(e) }
  worker.on('message', (msg: FromWorker) => {
    if (msg.type === 'ready') ready.resolve({ ready: msg.ready, failed: msg.failed })
    else if (msg.type === 'result') result.resolve(msg.result)
    else fail(new Error(`load worker: ${msg.message}`))
  })
  worker.on('error', fail)
  worker.on('exit', (code) => fail(new Error(`load worker exited (code ${code}) before its result`)))
  const send = (msg: ToWorker): void => { worker.postMessage(msg) }
  return {
    ready: ready.promise,
    start (startAt) { send({ type: 'start', startAt }); return result.promise },
    abort () { send({ type: 'abort' }); return result.promise },
    stop () { send({ type: 'stop' }) },
    async dispose () { await worker.terminate() },
  }
}

function inlineHandle (cfg: EngineConfig, script: string | LoadScript | null): EngineHandle {
  const loading = typeof script === 'string' ? loadLoadScript(script, cfg.framing) : Promise.resolve(script ?? undefined)
  const engine = loading.then((s) => new LoadEngine(cfg, s))
  engine.catch(() => {})
  return {
    ready: engine.then((e) => e.connectAll()),
    start: async (startAt) => await (await engine).run(startAt),
    abort: async () => (await engine).abort(),
    stop: () => { void engine.then((e) => e.stop(), () => {}) },
    dispose: async () => { await engine.then((e) => e.stop(), () => {}) },
  }
}

/** Rejects when `p` has not settled after `ms`. */
function deadline<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms)
    p.then((v) => { clearTimeout(timer); resolve(v) }, (e: unknown) => { clearTimeout(timer); reject(e) })
  })
}

/** Resolves with `p`'s value, or with `fallback` after `ms` or when `p` rejects. */
function within<T> (p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms)
    p.then((v) => { clearTimeout(timer); resolve(v) }, () => { clearTimeout(timer); resolve(fallback) })
  })
}

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits

function cpuSummary (userSec: number, systemSec: number, wallSec: number): CpuUsageSummary {
  return {
    userSec: round(userSec, 6),
    systemSec: round(systemSec, 6),
    totalSec: round(userSec + systemSec, 6),
    wallSec: round(wallSec, 6),
    percentOfOneCore: round(cpuPercentOfOneCore({ userSec, systemSec }, wallSec), 2),
  }
}

function targetLabel (t: LoadTarget): string {
  return 'path' in t ? t.path : `${t.host ?? '127.0.0.1'}:${t.port}`
}

/**
 * Runs one load and returns its measurements. Rejects only on bad options, a broken worker, or
 * `engine: 'native'` when the native engine cannot run (EPX_NATIVE_ENGINE). The native engine runs
 * one process per thread (threads 0 runs one process as well).
 */
export async function runTcpLoad (options: TcpLoadOptions): Promise<TcpLoadResult> {
  const o = normalizeTcpLoadOptions(options)
  // read once per process (a `getconf`), before this run's clocks start, and handed to every engine
  const { clockTicks } = procSysConf()
  const selection = await selectEngine(o.engine, o)
  const wall0 = performance.now()
  const cpu0 = process.cpuUsage()
  // the measured time; an amount-only run gets a time limit instead
  const runMs = o.durationMs ?? DEFAULT_AMOUNT_TIME_LIMIT_MS
  const inline = o.threads === 0
  const engines = inline ? 1 : o.threads
  const conns = splitEvenly(o.connections, engines)
  const amounts = o.amount === null ? null : splitEvenly(o.amount, engines)
  const configs: EngineConfig[] = []
  let first = 0
  for (let i = 0; i < engines; i++) {
    configs.push({
      target: o.target,
      framing: o.framing,
      connections: conns[i]!,
      firstConnection: first,
      totalConnections: o.connections,
      payloadBytes: o.payloadBytes,
      pipeline: o.pipeline,
      mode: o.mode,
      rate: o.rate ?? 0,
      amount: amounts === null ? null : amounts[i]!,
      durationMs: runMs,
      warmupMs: o.warmupMs,
      drainMs: o.drainMs,
      connectTimeoutMs: o.connectTimeoutMs,
      firstReplyTimeoutMs: o.firstReplyTimeoutMs,
      churn: o.churn,
      expect: o.expect,
      script: typeof o.script === 'string' ? o.script : null,
      engineIndex: i,
      engines,
      // 2^40 sequence numbers per engine: disjoint payloads across threads (a script numbers its own)
      seqBase: o.script === null ? i * 2 ** 40 : 0,
      clockTicks,
    })
    first += conns[i]!
  }
  // engine dispatch: a native engine process per share, else worker threads (or the calling thread)
  const native = selection.binary
  const handles: Array<EngineHandle & { processCpu?: () => { userSec: number, systemSec: number } | null }> =
    configs.map((cfg) => native !== null ? nativeHandle(cfg, native) : inline ? inlineHandle(cfg, o.script) : workerHandle(cfg))
  let aborted: string | null = null
  let results: Array<EngineResult | null> = []
  let startedAtAbs = absNow()
  try {
    // connect phase: every engine's sockets time out on their own; the margin covers worker start-up
    const readies = await Promise.all(handles.map((h) => deadline(h.ready, o.connectTimeoutMs + 10_000, 'the connect phase')))
    const readyTotal = readies.reduce((n, r) => n + r.ready, 0)
    if (!o.churn && readyTotal === 0) {
      results = await Promise.all(handles.map((h) => within(h.abort(), 5000, null)))
      aborted = connectPhaseFailure(o, results.filter((r): r is EngineResult => r !== null))
    } else {
      startedAtAbs = absNow() + 5
      const pending = handles.map((h) => h.start(startedAtAbs))
      const hardMs = 5 + o.warmupMs + runMs + o.drainMs + 5000
      const hard = setTimeout(() => {
        aborted = 'hard timeout'
        for (const h of handles) h.stop()
      }, hardMs)
      results = await Promise.all(pending.map((p) => within(p, hardMs + 3000, null)))
      clearTimeout(hard)
      if (results.some((r) => r === null) && aborted === null) aborted = 'a load thread failed or did not report'
      if (aborted === null && o.amount !== null && o.durationMs === null) {
        const sent = results.reduce((n, r) => n + (r?.sent ?? 0), 0)
        if (sent < o.amount) aborted = `time limit (${runMs} ms) reached after ${sent} of ${o.amount} requests`
      }
    }
  } finally {
    await Promise.all(handles.map((h) => h.dispose().catch(() => {})))
  }
  const cpu1 = process.cpuUsage(cpu0)
  const wallSec = (performance.now() - wall0) / 1000
  // native engines are processes of their own: the generator's CPU is theirs plus this process's
  const children = handles.map((h) => h.processCpu?.() ?? null)
  const childUser = children.reduce((n, c) => n + (c?.userSec ?? 0), 0)
  const childSystem = children.reduce((n, c) => n + (c?.systemSec ?? 0), 0)
  return mergeResults(o, results, aborted, startedAtAbs, {
    process: cpuSummary(cpu1.user / 1e6 + childUser, cpu1.system / 1e6 + childSystem, wallSec),
  }, selection)
}

/** Why no connection of the connect phase became ready, from what the engines counted: one line for the user. */
export function connectPhaseFailure (o: Pick<Normalized, 'framing' | 'payloadBytes' | 'expect' | 'script' | 'connectTimeoutMs' | 'firstReplyTimeoutMs'>, parts: EngineResult[]): string {
  const codes: Record<string, number> = {}
  for (const r of parts) for (const [c, n] of Object.entries(r.errors.byCode)) codes[c] = (codes[c] ?? 0) + n
  const mismatch = parts.map((r) => r.firstMismatch).find((m) => m !== null)
  const what = o.script !== null ? 'the load script\'s first request' : `a ${o.payloadBytes} B ${o.framing} request (expecting ${typeof o.expect === 'function' ? 'a computed reply' : o.expect === 'upper' ? 'it upper-cased' : 'it echoed'})`
  const hint = o.script !== null ? '' : ': if the handler is not an echo, give a load script (--load-script) that builds requests it answers and checks the replies'
  if (mismatch !== undefined) return `the server answered ${what} with something else (${mismatch})${hint}`
  if ((codes.MISMATCH ?? 0) > 0) return `the server answered ${what} with something else${hint}`
  if ((codes.NO_REPLY ?? 0) > 0) {
    const s = (ms: number): string => ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
    const quiet = Math.min(o.firstReplyTimeoutMs, o.connectTimeoutMs)
    return `connected, but no reply to ${what} within ${s(quiet)}${hint}`
  }
  const refused = codes.ECONNREFUSED ?? 0
  if (refused > 0) return 'no connection could be established: connection refused'
  if ((codes.CONNECT_TIMEOUT ?? 0) > 0) return `no connection could be established within the connect timeout (${o.connectTimeoutMs} ms)`
  if ((codes.EOF ?? 0) + (codes.ECONNRESET ?? 0) > 0) return `the server closed every connection before answering ${what}`
  const listed = Object.entries(codes).map(([c, n]) => `${c} ${n}`).join(', ')
  return `no connection could be established in the connect phase${listed === '' ? '' : ` (${listed})`}`
}

function mergeResults (
  o: Normalized,
  parts: Array<EngineResult | null>,
  abortedIn: string | null,
  startedAtAbs: number,
  cpu: { process: CpuUsageSummary },
  selection: EngineSelection,
): TcpLoadResult {
  const got = parts.filter((p): p is EngineResult => p !== null)
  const sum = (f: (r: EngineResult) => number): number => got.reduce((n, r) => n + f(r), 0)
  const errors = emptyErrorCounts()
  for (const r of got) {
    for (const k of ['total', 'refused', 'reset', 'timeout', 'closed', 'mismatch', 'other'] as const) errors[k] += r.errors[k]
    for (const [code, n] of Object.entries(r.errors.byCode)) errors.byCode[code] = (errors.byCode[code] ?? 0) + n
  }
  const latency = mergeHistograms(got.map((r) => r.latency))
  const connectLatency = mergeHistograms(got.map((r) => r.connectLatency))
  let windowMs = 0
  if (got.length > 0) {
    const start = Math.min(...got.map((r) => r.measureStart))
    const end = Math.max(...got.map((r) => Math.max(r.sendStop, r.lastReply)))
    windowMs = Math.max(0, end - start)
  }
  const completed = sum((r) => r.completed)
  const bytesSent = sum((r) => r.bytesSent)
  const bytesReceived = sum((r) => r.bytesReceived)
  const mismatches = sum((r) => r.mismatches)
  const firstMismatch = got.map((r) => r.firstMismatch).find((m) => m !== null) ?? null
  const aborted = abortedIn ?? (got.some((r) => r.aborted) ? 'stopped early' : null)
  const threadCpus = got.map((r) => r.cpu).filter((c): c is ThreadCpu => c !== null)
  let threads: TcpLoadResult['cpu']['threads'] = null
  if (threadCpus.length > 0 && threadCpus.length === got.length) {
    const perThread = threadCpus.map((c) => cpuSummary(c.userSec, c.systemSec, c.wallSec))
    const all = cpuSummary(
      threadCpus.reduce((n, c) => n + c.userSec, 0),
      threadCpus.reduce((n, c) => n + c.systemSec, 0),
      Math.max(...threadCpus.map((c) => c.wallSec)),
    )
    threads = { ...all, perThread }
  }
  const result: TcpLoadResult = {
    ok: aborted === null && mismatches === 0 && errors.total === 0 && completed > 0,
    engine: selection.engine,
    engineNote: selection.note,
    aborted,
    target: targetLabel(o.target),
    options: {
      framing: o.framing,
      mode: o.mode,
      churn: o.churn,
      connections: o.connections,
      threads: o.threads,
      pipeline: o.pipeline,
      payloadBytes: o.payloadBytes,
      rate: o.rate,
      durationMs: o.durationMs,
      amount: o.amount,
      warmupMs: o.warmupMs,
      drainMs: o.drainMs,
      connectTimeoutMs: o.connectTimeoutMs,
      expect: o.script !== null ? 'script' : typeof o.expect === 'function' ? 'custom' : o.expect,
    },
    startedAt: new Date(startedAtAbs).toISOString(),
    windowMs,
    connections: { ready: sum((r) => r.connectionsReady), opened: sum((r) => r.connectionsOpened) },
    requests: {
      sent: sum((r) => r.sent),
      completed,
      incomplete: sum((r) => r.incomplete),
      scheduled: sum((r) => r.scheduled),
      unsent: sum((r) => r.unsent),
    },
    bytes: { sent: bytesSent, received: bytesReceived },
    mismatches,
    firstMismatch,
    errors,
    throughput: {
      requestsPerSec: ratePerSecond(completed, windowMs),
      bytesSentPerSec: ratePerSecond(bytesSent, windowMs),
      bytesReceivedPerSec: ratePerSecond(bytesReceived, windowMs),
    },
    latency: summarizeLatency(latency),
    connectLatency: summarizeLatency(connectLatency),
    histograms: { latency: encodeHistogram(latency), connectLatency: encodeHistogram(connectLatency) },
    seconds: got.length > 0 && got.every((r) => r.seconds !== undefined)
      ? mergeSeconds(got.map((r) => r.seconds as EngineSeconds), startedAtAbs, o.warmupMs)
      : null,
    cpu: { process: cpu.process, threads, cores: os.availableParallelism() },
  }
  return result
}
