/**
 * The HTTP load driver: autocannon against an echoing HTTP handler (POST a body, expect it back).
 *
 * - keep-alive: `connections` persistent connections, `pipelining` requests in flight on each.
 * - churn: a new connection per request, through autocannon's `reconnectRate: 1`. autocannon 8 skips
 *   all bookkeeping of the response that triggers a reconnect (no `response` event, no body check),
 *   so with a reconnect after every request it would count nothing; `churnSetupClient` restores the
 *   bookkeeping for that response (counted, timed, verified) before the reconnect.
 * - Every body is verified with `expectBody` (a mismatch counts in `mismatches`).
 * - On the main thread (`workers` ≤ 1) one run covers warmup and measurement: responses are timed
 *   into our own microsecond HDR histogram (autocannon's has 1 ms resolution) and only those
 *   completing after the warmup count. With workers (> 1), a separate warmup run comes first and
 *   autocannon's own (millisecond) numbers are used.
 */
import type autocannon from 'autocannon'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLatencyHistogram, encodeHistogram, recordLatencyMs, summarizeLatency, type LatencySummary } from '../load/latency.js'
import { payloadTemplate } from '../load/payload.js'
import { mergeSeconds, SecondBuckets, type LoadSeconds } from '../load/per-second.js'
import type { GeneratorCpu, LoadSummary } from '@echoplex/results'

export interface HttpLoadOptions {
  host?: string
  port: number
  connections: number
  payloadBytes: number
  /** measured duration, ms */
  durationMs: number
  warmupMs?: number
  /** a new connection per request */
  churn?: boolean
  /** requests in flight per connection (keep-alive only); default 1 */
  pipeline?: number
  /** autocannon worker threads; ≤ 1 runs on the calling thread (default) */
  workers?: number
  /** seconds before a request times out; default 30 */
  timeoutSec?: number
  /** ends the run early */
  signal?: AbortSignal
}

/**
 * setupClient for churn (see the module comment). Self-contained: its source is also written to a
 * file for autocannon's worker threads, which can only load setupClient by path.
 */
export function churnSetupClient (client: any): void {
  const queue = client.pipelinedRequests
  const terminate = queue.terminateRequest.bind(queue)
  let last: any = null
  queue.terminateRequest = function () { last = terminate(); return last }
  const reset = client._resetConnection
  client._resetConnection = function (this: any) {
    const resp = last
    last = null
    if (resp !== null && resp !== undefined && !this.destroyed) {
      this.emit('response', resp.headers.statusCode, resp.bytes, resp.duration, this.rate)
      const verify = this.opts.verifyBody
      const bad = typeof verify === 'function' ? !verify(resp.body) : (Boolean(this.opts.expectBody) && this.opts.expectBody !== resp.body)
      if (bad) this.emit('mismatch', resp.body)
    }
    return reset.call(this)
  }
}

function cpuOf (u: NodeJS.CpuUsage, wallSec: number): GeneratorCpu {
  const userSec = u.user / 1e6
  const systemSec = u.system / 1e6
  const r = (v: number, d = 6): number => Math.round(v * 10 ** d) / 10 ** d
  return {
    userSec: r(userSec),
    systemSec: r(systemSec),
    totalSec: r(userSec + systemSec),
    wallSec: r(wallSec),
    percentOfOneCore: wallSec > 0 ? r((userSec + systemSec) / wallSec * 100, 2) : 0,
  }
}

interface AcResult {
  duration: number
  errors: number
  timeouts: number
  mismatches: number
  non2xx: number
  latency: { min: number, max: number, average: number, stddev: number, p50: number, p90: number, p99: number, p99_9: number, totalCount: number }
  requests: { total: number, sent: number }
  throughput: { total: number }
  statusCodeStats?: Record<string, { count: number }>
}

/** autocannon, imported on first use: ~190 ms here that a bench of raw TCP workloads (or `--help`) does not need. */
let loaded: Promise<typeof autocannon> | undefined
const loadAutocannon = async (): Promise<typeof autocannon> => await (loaded ??= import('autocannon').then((m) => m.default))

async function runOnce (opts: autocannon.Options, signal: AbortSignal | undefined, onInstance?: (i: autocannon.Instance) => void): Promise<AcResult> {
  const run = await loadAutocannon()
  return await new Promise((resolve, reject) => {
    const instance = run(opts, (err: Error | null, result: unknown) => {
      signal?.removeEventListener('abort', onAbort)
      if (err !== null && err !== undefined) reject(err)
      else resolve(result as AcResult)
    })
    const onAbort = (): void => { (instance as unknown as { stop: () => void }).stop() }
    if (signal?.aborted === true) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    onInstance?.(instance)
  })
}

let setupFile: { dir: string, path: string } | null = null

/** The churn setupClient as a CommonJS file (for autocannon workers); removed when this process exits. */
function churnSetupFile (): string {
  if (setupFile === null) {
    const dir = mkdtempSync(join(tmpdir(), 'echoplex-ac-'))
    const path = join(dir, 'churn-setup-client.cjs')
    writeFileSync(path, `'use strict'\nmodule.exports = ${churnSetupClient.toString()}\n`)
    setupFile = { dir, path }
    process.once('exit', () => { try { rmSync(dir, { recursive: true, force: true }) } catch { /* gone */ } })
  }
  return setupFile.path
}

const fromAutocannonLatency = (l: AcResult['latency']): LatencySummary => ({
  count: l.totalCount,
  min: l.min,
  mean: l.average,
  stdev: l.stddev,
  p50: l.p50,
  p90: l.p90,
  p99: l.p99,
  p999: l.p99_9,
  max: l.max,
})

/** Runs autocannon against an echoing HTTP server and returns the common load summary. */
export async function runHttpLoad (o: HttpLoadOptions): Promise<LoadSummary> {
  const host = o.host ?? '127.0.0.1'
  const urlHost = host.includes(':') ? `[${host}]` : host
  const body = payloadTemplate(o.payloadBytes).toString('latin1')
  const workers = o.workers !== undefined && o.workers > 1 ? o.workers : undefined
  const churn = o.churn === true
  const warmupMs = o.warmupMs ?? 0
  const base: autocannon.Options = {
    url: `http://${urlHost}:${o.port}/`,
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body,
    expectBody: body,
    connections: o.connections,
    pipelining: churn ? 1 : (o.pipeline ?? 1),
    timeout: o.timeoutSec ?? 30,
    sampleInt: 100,
    ...(churn ? { reconnectRate: 1 } : {}),
  } as autocannon.Options
  const cpu0 = process.cpuUsage()
  const wall0 = performance.now()
  const signal = o.signal
  if (workers === undefined) {
    // one run: warmup + measurement, responses timed by us
    const hist = createLatencyHistogram()
    let measureFrom = Infinity
    let completed = 0
    let bytes = 0
    const opts = {
      ...base,
      duration: (warmupMs + o.durationMs) / 1000,
      ...(churn ? { setupClient: churnSetupClient } : {}),
    } as autocannon.Options
    let measureFromEpoch = Date.now()
    // per-second completions since the load started, warmup included (timelines)
    const seconds = new SecondBuckets()
    let loadFrom = 0
    let loadFromEpoch = Date.now()
    const r = await runOnce(opts, signal, (instance) => {
      loadFrom = performance.now()
      loadFromEpoch = Date.now()
      measureFrom = loadFrom + warmupMs
      measureFromEpoch = loadFromEpoch + warmupMs
      instance.on('response', (_client, statusCode, resBytes, responseTime) => {
        const now = performance.now()
        if (statusCode < 200 || statusCode >= 300) return
        seconds.record(now - loadFrom, responseTime)
        if (now < measureFrom) return
        completed++
        bytes += resBytes
        recordLatencyMs(hist, responseTime)
      })
    })
    const endAt = performance.now()
    const wallSec = (endAt - wall0) / 1000
    const windowMs = Math.max(0, endAt - measureFrom)
    return summary(r, {
      startedAt: new Date(measureFromEpoch).toISOString(),
      windowMs,
      completed,
      bytes,
      latency: summarizeLatency(hist),
      latencyHist: encodeHistogram(hist),
      cpu: cpuOf(process.cpuUsage(cpu0), wallSec),
      threads: 0,
      aborted: signal?.aborted === true ? 'interrupted' : null,
      seconds: mergeSeconds([seconds.result()], loadFromEpoch, warmupMs),
    })
  }
  const opts = {
    ...base,
    workers,
    ...(churn ? { setupClient: churnSetupFile() } : {}),
  } as autocannon.Options
  let warm: AcResult | null = null
  if (warmupMs > 0) warm = await runOnce({ ...opts, duration: warmupMs / 1000 }, signal)
  const r = await runOnce({ ...opts, duration: o.durationMs / 1000 }, signal)
  if (warm !== null) {
    // problems in the warmup count too
    r.mismatches += warm.mismatches
    r.errors += warm.errors
    r.timeouts += warm.timeouts
    r.non2xx += warm.non2xx
  }
  const wallSec = (performance.now() - wall0) / 1000
  return summary(r, {
    startedAt: new Date((r as AcResult & { start?: Date | string }).start ?? Date.now()).toISOString(),
    windowMs: r.duration * 1000,
    completed: r.requests.total,
    bytes: r.throughput.total,
    latency: fromAutocannonLatency(r.latency),
    latencyHist: null,
    cpu: cpuOf(process.cpuUsage(cpu0), wallSec),
    threads: workers,
    aborted: signal?.aborted === true ? 'interrupted' : null,
  })
}

function summary (r: AcResult, m: {
  startedAt: string
  windowMs: number
  completed: number
  bytes: number
  latency: LatencySummary
  latencyHist: string | null
  cpu: GeneratorCpu
  threads: number
  aborted: string | null
  seconds?: LoadSeconds | null
}): LoadSummary {
  const sec = m.windowMs / 1000
  const connectionErrors = Math.max(0, r.errors - r.timeouts)
  return {
    tool: 'autocannon',
    aborted: m.aborted,
    startedAt: m.startedAt,
    windowMs: Math.round(m.windowMs * 1000) / 1000,
    requests: { sent: r.requests.sent, completed: m.completed },
    throughput: {
      requestsPerSec: sec > 0 ? Math.round(m.completed / sec * 100) / 100 : 0,
      bytesPerSec: sec > 0 ? Math.round(m.bytes / sec) : 0,
    },
    latency: m.latency,
    connectLatency: null,
    mismatches: r.mismatches,
    errors: {
      total: r.errors + r.non2xx,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      byKind: { connection: connectionErrors, timeout: r.timeouts, non2xx: r.non2xx },
      byCode: {},
    },
    connectionsOpened: null,
    generator: { threads: m.threads, process: m.cpu, loadThreads: null },
    histograms: { latency: m.latencyHist, connectLatency: null },
    ...(m.seconds == null ? {} : { seconds: m.seconds }),
  }
}
