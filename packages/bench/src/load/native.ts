/**
 * The native load engine: packages/bench/native/tcp-load.c, compiled on demand with the system C
 * compiler (as the C epoll peer is) and run as a child process per engine. It does what one
 * LoadEngine does (same timeline, payloads, verification, error codes) for persistent connections and
 * churn, closed and open loop, raw/line/length framing and echo/upper replies, at a fraction of the
 * CPU per round trip (or per connection), so the generator is not the ceiling when it shares a small
 * machine with the server. Load scripts and custom `expect` functions stay with the Node engine.
 *
 * Engine choice (`engine` of runTcpLoad): 'node' always runs the Node engine; 'native' runs this one
 * or fails with EPX_NATIVE_ENGINE; 'auto' runs this one when it can and the Node engine otherwise,
 * saying why in the result.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileC, errors, nativeBinDir as binDirFor } from '@echoplex/core'
import type { EngineConfig } from './engine.js'
import type { EngineResult, ThreadCpu } from './result.js'
import { createLatencyHistogram, encodeHistogram } from './latency.js'
import type { Expect } from './payload.js'

export type EngineChoice = 'auto' | 'node' | 'native'
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'node', 'native']

/** The C source (same path from src/load and dist/load). */
export const NATIVE_SOURCE = fileURLToPath(new URL('../../native/tcp-load.c', import.meta.url))

/** Where the compiled engine is kept: $ECHOPLEX_NATIVE_BIN_DIR, else packages/bench/native/bin (gitignored). */
export function nativeBinDir (): string {
  return binDirFor(fileURLToPath(new URL('../../native/bin/', import.meta.url)))
}

export type NativeAvailability = { ok: true, binary: string } | { ok: false, reason: string }

async function build (binDir: string): Promise<NativeAvailability> {
  if (process.platform !== 'linux') return { ok: false, reason: `it uses epoll (Linux only; this is ${process.platform})` }
  const built = await compileC({ source: NATIVE_SOURCE, output: join(binDir, 'tcp-load'), libs: ['-lm'] })
  return built.ok ? { ok: true, binary: built.path } : { ok: false, reason: built.reason }
}

const builds = new Map<string, Promise<NativeAvailability>>()

/** Builds the engine if needed (once per process and bin dir, unless it failed); never rejects. */
export function ensureNativeEngine (): Promise<NativeAvailability> {
  const key = `${nativeBinDir()}\0${process.env.CC ?? ''}`
  let p = builds.get(key)
  if (p === undefined) {
    p = build(nativeBinDir()).catch((e: unknown) => ({ ok: false as const, reason: `build failed: ${String(e)}` }))
    builds.set(key, p)
    // a failure is not remembered: a compiler installed later is found on the next run
    void p.then((r) => { if (!r.ok) builds.delete(key) })
  }
  return p
}

/** Why the native engine cannot run these options, or null when it can. */
export function nativeUnsupported (o: { expect: Expect, script?: unknown }): string | null {
  if (o.script !== undefined && o.script !== null) return 'a load script runs on the Node engine'
  if (typeof o.expect === 'function') return 'a custom expect function runs on the Node engine'
  return null
}

export interface EngineSelection {
  engine: 'node' | 'native'
  /** the compiled engine when `engine` is native */
  binary: string | null
  /** why the Node engine runs although auto or native was asked for; null otherwise */
  note: string | null
}

/**
 * Picks the engine of a run. Throws EPX_NATIVE_ENGINE when 'native' was asked for and cannot run.
 */
export async function selectEngine (choice: EngineChoice, o: { expect: Expect, script?: unknown }): Promise<EngineSelection> {
  if (!ENGINE_CHOICES.includes(choice)) throw new RangeError(`engine must be auto, node or native, got ${String(choice)}`)
  if (choice === 'node') return { engine: 'node', binary: null, note: null }
  const unsupported = nativeUnsupported(o)
  if (unsupported !== null) {
    if (choice === 'native') throw errors.NATIVE_ENGINE(unsupported)
    return { engine: 'node', binary: null, note: `native engine not used: ${unsupported}` }
  }
  const a = await ensureNativeEngine()
  if (a.ok) return { engine: 'native', binary: a.binary, note: null }
  if (choice === 'native') throw errors.NATIVE_ENGINE(a.reason)
  return { engine: 'node', binary: null, note: `native engine unavailable: ${a.reason}` }
}

/** The engine's command line for one engine's share of a run. */
export function nativeArgs (cfg: EngineConfig): string[] {
  const t = cfg.target
  const args = 'path' in t ? [`path=${t.path}`] : [`host=${t.host ?? '127.0.0.1'}`, `port=${t.port}`]
  args.push(
    `framing=${cfg.framing}`, `conns=${cfg.connections}`, `first=${cfg.firstConnection}`, `total=${cfg.totalConnections}`,
    `payload=${cfg.payloadBytes}`, `pipeline=${cfg.pipeline}`, `mode=${cfg.mode}`, `rate=${cfg.rate}`,
    `duration=${cfg.durationMs}`, `warmup=${cfg.warmupMs}`, `drain=${cfg.drainMs}`, `ctimeout=${cfg.connectTimeoutMs}`, `firstreply=${cfg.firstReplyTimeoutMs}`,
    `expect=${cfg.expect === 'upper' ? 'upper' : 'echo'}`, `seqbase=${cfg.seqBase}`,
  )
  if (cfg.amount !== null) args.push(`amount=${cfg.amount}`)
  if (cfg.churn) args.push('churn=1')
  return args
}

/** What the C engine prints: an EngineResult with histograms as exact [µs, count] pairs. */
interface NativeResult extends Omit<EngineResult, 'latency' | 'connectLatency' | 'seconds'> {
  latency: Array<[number, number]>
  connectLatency: Array<[number, number]>
  /** per second since the load started: completions and a log histogram ([µs upper bound, count] pairs, ~4 % buckets) */
  seconds?: { intervalMs: number, completed: number[], pairs: Array<Array<[number, number]>> }
  /** the engine process's CPU over its whole life */
  processCpu: { userSec: number, systemSec: number }
}

function encodePairs (pairs: Array<[number, number]>): string {
  const h = createLatencyHistogram()
  for (const [us, count] of pairs) h.recordValueWithCount(us, count)
  return encodeHistogram(h)
}

/** An EngineResult from the engine's result line. */
export function fromNativeResult (json: string): { result: EngineResult, processCpu: { userSec: number, systemSec: number } } {
  const r = JSON.parse(json) as NativeResult
  const { processCpu, latency, connectLatency, seconds, ...rest } = r
  // (the C engine does not describe mismatches: the run says how many)
  const result: EngineResult = { ...rest, firstMismatch: (rest as Partial<EngineResult>).firstMismatch ?? null, cpu: rest.cpu as ThreadCpu | null, latency: encodePairs(latency), connectLatency: encodePairs(connectLatency) }
  if (seconds !== undefined) result.seconds = { intervalMs: seconds.intervalMs, completed: seconds.completed, latency: seconds.pairs.map(encodePairs) }
  return { result, processCpu }
}

interface Deferred<T> { promise: Promise<T>, resolve: (v: T) => void, reject: (e: Error) => void }

function deferred<T> (): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  promise.catch(() => {}) // observed by whoever awaits it
  return { promise, resolve, reject }
}

/** Drives one native engine process (the same shape as tcp-load.ts's handles for worker threads). */
export interface NativeEngineHandle {
  readonly ready: Promise<{ ready: number, failed: number }>
  start (startAt: number): Promise<EngineResult>
  abort (): Promise<EngineResult>
  stop (): void
  dispose (): Promise<void>
  /** The process's CPU over its whole life, once it reported its result; else null. */
  processCpu (): { userSec: number, systemSec: number } | null
}

export function nativeHandle (cfg: EngineConfig, binary: string): NativeEngineHandle {
  const child = spawn(binary, nativeArgs(cfg), { stdio: ['pipe', 'pipe', 'pipe'] })
  const ready = deferred<{ ready: number, failed: number }>()
  const result = deferred<EngineResult>()
  let cpu: { userSec: number, systemSec: number } | null = null
  let stderr = ''
  let exited = false
  const exit = new Promise<void>((resolve) => child.once('close', () => { exited = true; resolve() }))
  const fail = (e: Error): void => { ready.reject(e); result.reject(e) }
  child.on('error', (e) => fail(new Error(`native load engine: ${e.message}`)))
  child.stdin.on('error', () => {}) // the engine may be gone; its exit says why
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (s: string) => { if (stderr.length < 4096) stderr += s })
  let buf = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (s: string) => {
    buf += s
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (line.startsWith('ready ')) {
        const [r, f] = line.slice(6).split(' ').map(Number)
        ready.resolve({ ready: r!, failed: f! })
      } else if (line.startsWith('result ')) {
        try {
          const parsed = fromNativeResult(line.slice(7))
          cpu = parsed.processCpu
          result.resolve(parsed.result)
        } catch (e) {
          fail(new Error(`native load engine: unreadable result (${String(e)})`))
        }
      } else if (line.startsWith('error ')) {
        fail(new Error(`native load engine: ${line.slice(6)}`))
      }
    }
  })
  child.once('close', (code, signal) => {
    fail(new Error(`native load engine exited (${signal ?? code}) before its result${stderr !== '' ? `: ${stderr.trim().split('\n')[0]}` : ''}`))
  })
  const send = (line: string): void => { if (!exited && child.stdin.writable) child.stdin.write(`${line}\n`) }
  return {
    ready: ready.promise,
    start (startAt) { send(`start ${startAt}`); return result.promise },
    abort () { send('abort'); return result.promise },
    stop () { send('stop') },
    async dispose () {
      // closing its stdin ends the engine (it reports and exits); SIGKILL if it does not
      if (!exited) child.stdin.end()
      const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL') }, 2000)
      await exit
      clearTimeout(timer)
    },
    processCpu: () => cpu,
  }
}
