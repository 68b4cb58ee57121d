/**
 * The load engine: drives a share of the connections of a run from one thread (a worker thread, or the
 * caller's thread when `expect` is a function, which cannot cross threads). `tcp-load.ts` splits a run
 * over engines, starts them together and merges what they return.
 *
 * Timeline (all engines share an absolute start time):
 *   connect phase  every connection connects and gets one probe request echoed back (verified, not
 *                  counted as load); its connect → first echoed byte latency is recorded
 *   startAt        load starts
 *   measureStart   = startAt + warmupMs; only requests started from here on are measured
 *   stopAt         = measureStart + durationMs (or the time limit of an amount-only run): no new sends
 *   drain          up to drainMs for outstanding replies, then every socket is destroyed
 */
import net from 'node:net'
import { readFileSync } from 'node:fs'
import { createLatencyHistogram, encodeHistogram, openLoopSchedule, recordLatencyMs } from './latency.js'
import type { Histogram, OpenLoopSchedule } from './latency.js'
import { PayloadFactory, ReplyVerifier } from './payload.js'
import type { Expect, LoadFraming } from './payload.js'

export type LoadTarget = { host?: string, port: number } | { path: string }
export type LoadMode = 'closed' | 'open'

/** What one engine runs: its share of a run. */
export interface EngineConfig {
  target: LoadTarget
  framing: LoadFraming
  /** Connections (or, with churn, concurrent connect-request-close loops) this engine drives. */
  connections: number
  /** Global index of this engine's first connection (open-loop schedule offsets). */
  firstConnection: number
  /** Connections of the whole run (open-loop schedule). */
  totalConnections: number
  payloadBytes: number
  pipeline: number
  mode: LoadMode
  /** Requests per second of the whole run (open loop). */
  rate: number
  /** Measured requests this engine sends at most; null for no limit. */
  amount: number | null
  /** Measured time after warmup, in ms (the time limit when only `amount` bounds the run). */
  durationMs: number
  warmupMs: number
  drainMs: number
  connectTimeoutMs: number
  churn: boolean
  expect: Expect
  /** First sequence number (engines use disjoint ranges so every payload of a run differs). */
  seqBase: number
}

export interface ErrorCounts {
  total: number
  /** Connection refused (ECONNREFUSED; ENOENT/EACCES for a UNIX socket path). */
  refused: number
  /** Connection reset (ECONNRESET, EPIPE, ECONNABORTED). */
  reset: number
  /** Connect timeout, or requests still unanswered at the end of the drain window (one per connection). */
  timeout: number
  /** The server closed a connection the generator had not finished with. */
  closed: number
  /** A reply differed from what was expected: the connection was out of sync and dropped. */
  mismatch: number
  other: number
  /** Counts by error code (`ECONNREFUSED`, `EOF`, `MISMATCH`, `CONNECT_TIMEOUT`, `REPLY_TIMEOUT`...). */
  byCode: Record<string, number>
}

export type ErrorKind = Exclude<keyof ErrorCounts, 'total' | 'byCode'>

export function emptyErrorCounts (): ErrorCounts {
  return { total: 0, refused: 0, reset: 0, timeout: 0, closed: 0, mismatch: 0, other: 0, byCode: {} }
}

export function errorKindOf (code: string | undefined): ErrorKind {
  switch (code) {
    case 'ECONNREFUSED': case 'ENOENT': case 'EACCES': return 'refused'
    case 'ECONNRESET': case 'EPIPE': case 'ECONNABORTED': return 'reset'
    case 'ETIMEDOUT': case 'CONNECT_TIMEOUT': case 'REPLY_TIMEOUT': return 'timeout'
    case 'EOF': return 'closed'
    case 'MISMATCH': return 'mismatch'
    default: return 'other'
  }
}

export interface ThreadCpu { userSec: number, systemSec: number, wallSec: number }

/** What an engine reports (plain data: it crosses threads). Times are absolute ms (epoch-based). */
export interface EngineResult {
  /** Connections opened during the run (reconnects and churn included, connect phase excluded). */
  connectionsOpened: number
  /** Connections established and verified in the connect phase. */
  connectionsReady: number
  sent: number
  completed: number
  /** Measured requests still unanswered when the engine finished (or lost with their connection). */
  incomplete: number
  /** Open loop: measured requests scheduled before the stop time. */
  scheduled: number
  /** Open loop: scheduled requests never sent (every slot busy, or the connection down). */
  unsent: number
  bytesSent: number
  bytesReceived: number
  mismatches: number
  errors: ErrorCounts
  /** Encoded HDR histograms (µs). */
  latency: string
  connectLatency: string
  measureStart: number
  sendStop: number
  lastReply: number
  /** This thread's CPU over the run (Linux /proc/thread-self/stat), null where unavailable. */
  cpu: ThreadCpu | null
  aborted: boolean
}

/** Absolute milliseconds (epoch based, sub-ms precision) comparable across threads. */
export function absNow (): number {
  return performance.timeOrigin + performance.now()
}

/** /proc reports thread CPU in USER_HZ clock ticks, which Linux fixes at 100 per second. */
const USER_HZ = 100

/** User and system CPU seconds of the calling thread, or null off Linux. */
export function threadCpuSeconds (): { userSec: number, systemSec: number } | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null
    return { userSec: utime / USER_HZ, systemSec: stime / USER_HZ }
  } catch {
    return null
  }
}

interface Conn {
  /** Global index (open-loop offset). */
  index: number
  sock: net.Socket | null
  connecting: boolean
  connStart: number
  firstByte: boolean
  /** Whether the connect → first byte latency of this socket is recorded. */
  recordConnect: boolean
  verifier: ReplyVerifier
  /** Open loop: index of the next request in this connection's schedule. */
  nextK: number
  /** Churn: latency start of the request this connection is for. */
  pendingStart: number
  /** Churn: a transaction is under way (counted in `inflight` from before its connect). */
  pending: boolean
  failures: number
  retry: NodeJS.Timeout | null
  connectTimer: NodeJS.Timeout | null
  /** Connect phase: called once when the probe reply arrived (true) or the connection failed (false). */
  onProbe: ((ok: boolean) => void) | null
}

/**
 * Calls `fn` at `performance.now()` time `when`, never before. Node timers run on libuv's whole-
 * millisecond clock and can fire up to ~1 ms early by performance.now(); the rest is waited out, so the
 * measurement boundaries (start, stop) are exact.
 */
class PreciseTimer {
  private timer: NodeJS.Timeout | null = null
  constructor (private readonly when: number, private readonly fn: () => void) { this.arm() }

  private arm (): void {
    const left = this.when - performance.now()
    this.timer = setTimeout(() => {
      if (performance.now() < this.when) { this.arm(); return }
      this.timer = null
      this.fn()
    }, Math.max(0, Math.floor(left)))
  }

  cancel (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }
}

type Phase = 'idle' | 'connecting' | 'ready' | 'running' | 'draining' | 'done'

export class LoadEngine {
  private readonly factory: PayloadFactory
  private readonly schedule: OpenLoopSchedule | null
  private readonly conns: Conn[] = []
  private readonly latency: Histogram = createLatencyHistogram()
  private readonly connectLatency: Histogram = createLatencyHistogram()
  private readonly errors = emptyErrorCounts()
  private phase: Phase = 'idle'
  private seq: number
  private remaining: number
  private inflight = 0

  private sent = 0
  private completed = 0
  private bytesSent = 0
  private bytesReceived = 0
  private mismatches = 0
  private opened = 0
  private ready = 0

  // local (performance.now()) times
  private startAt = 0
  private measureStart = Infinity
  private stopAt = Infinity
  private sendStop = NaN
  private lastReply = NaN
  private tNow = 0

  private tickTimer: NodeJS.Timeout | null = null
  private stopTimer: PreciseTimer | null = null
  private drainTimer: NodeJS.Timeout | null = null
  private startTimer: PreciseTimer | null = null
  private cpuStart: { userSec: number, systemSec: number } | null = null
  private cpuWallStart = 0
  private aborted = false
  private began = false
  private resolveRun: ((r: EngineResult) => void) | null = null
  private readonly onComplete: (start: number, bytes: number) => void

  constructor (private readonly cfg: EngineConfig) {
    this.factory = new PayloadFactory(cfg.framing, cfg.payloadBytes, cfg.expect)
    this.schedule = cfg.mode === 'open' ? openLoopSchedule(cfg.rate, cfg.totalConnections) : null
    this.seq = cfg.seqBase
    this.remaining = cfg.amount ?? Infinity
    const capacity = cfg.churn ? 1 : cfg.pipeline
    for (let i = 0; i < cfg.connections; i++) {
      this.conns.push({
        index: cfg.firstConnection + i,
        sock: null,
        connecting: false,
        connStart: 0,
        firstByte: false,
        recordConnect: false,
        verifier: new ReplyVerifier(capacity),
        nextK: 0,
        pendingStart: 0,
        pending: false,
        failures: 0,
        retry: null,
        connectTimer: null,
        onProbe: null,
      })
    }
    this.onComplete = (start: number, bytes: number) => {
      this.inflight--
      if (start >= this.measureStart) {
        this.completed++
        this.bytesReceived += bytes
        recordLatencyMs(this.latency, this.tNow - start)
        this.lastReply = this.tNow
      }
    }
  }

  /**
   * Connect phase: opens every connection and has one probe request echoed on each. Resolves with how
   * many are ready (failures are counted as errors and retried once the run starts). With churn there is
   * nothing to prepare.
   */
  connectAll (): Promise<{ ready: number, failed: number }> {
    if (this.phase !== 'idle') throw new Error('connectAll() called twice')
    this.phase = 'connecting'
    if (this.cfg.churn || this.conns.length === 0) {
      this.phase = 'ready'
      return Promise.resolve({ ready: 0, failed: 0 })
    }
    return new Promise((resolve) => {
      let pending = this.conns.length
      let failed = 0
      const settle = (ok: boolean): void => {
        if (ok) this.ready++
        else failed++
        if (--pending === 0) {
          if (this.phase === 'connecting') this.phase = 'ready'
          resolve({ ready: this.ready, failed })
        }
      }
      for (const c of this.conns) {
        c.onProbe = settle
        this.openSocket(c, true)
      }
    })
  }

  /** Runs the load from `startAtAbs` (absolute ms, see absNow) until the end; resolves with the counts. */
  run (startAtAbs: number): Promise<EngineResult> {
    if (this.phase === 'running' || this.phase === 'draining' || this.phase === 'done') throw new Error('run() called twice')
    return new Promise((resolve) => {
      this.resolveRun = resolve
      const origin = performance.timeOrigin
      this.startAt = startAtAbs - origin
      this.measureStart = this.startAt + this.cfg.warmupMs
      this.stopAt = this.measureStart + this.cfg.durationMs
      this.startTimer = new PreciseTimer(this.startAt, () => { this.startTimer = null; this.begin() })
    })
  }

  /** Ends the run now (hard timeout): outstanding requests are dropped, the result still comes. */
  stop (): void {
    if (this.phase === 'done') return
    this.aborted = true
    if (this.resolveRun === null) {
      // not running: just close everything
      this.phase = 'done'
      this.closeAll()
      return
    }
    this.finish()
  }

  /**
   * Gives up without running (e.g. no connection of the whole run could be set up): closes everything
   * and returns what the connect phase counted.
   */
  abort (): EngineResult {
    let out: EngineResult | null = null
    this.resolveRun = (r) => { out = r }
    this.aborted = true
    this.finish()
    return out!
  }

  private now (): number {
    return performance.now()
  }

  private begin (): void {
    if (this.phase === 'done') return
    this.phase = 'running'
    this.began = true
    this.cpuStart = threadCpuSeconds()
    this.cpuWallStart = this.now()
    for (const c of this.conns) c.onProbe = null
    if (this.remaining <= 0) { this.amountDone(); return } // this engine's share of `amount` is 0
    this.stopTimer = new PreciseTimer(this.stopAt, () => { this.stopTimer = null; this.beginDrain() })
    for (const c of this.conns) {
      if (this.cfg.churn) this.churnNext(c)
      else if (c.sock === null && !c.connecting) this.openSocket(c, false)
      else this.pump(c)
    }
    if (this.schedule !== null) this.tick()
  }

  // ---- sockets -------------------------------------------------------------------------------

  private openSocket (c: Conn, probe: boolean): void {
    const target = this.cfg.target
    const s = 'path' in target
      ? net.connect({ path: target.path })
      : net.connect({ host: target.host ?? '127.0.0.1', port: target.port })
    c.sock = s
    c.connecting = true
    c.firstByte = false
    c.connStart = this.now()
    // with churn a connection belongs to its request: measured when the request is
    c.recordConnect = probe || (this.cfg.churn ? c.pendingStart : c.connStart) >= this.measureStart
    s.setNoDelay(true)
    c.connectTimer = setTimeout(() => {
      c.connectTimer = null
      this.drop(c, s, 'CONNECT_TIMEOUT')
    }, this.cfg.connectTimeoutMs)
    s.on('connect', () => {
      if (s !== c.sock) return
      c.connecting = false
      if (probe) {
        // the connect timeout also covers the probe's reply
        const req = this.factory.request(this.seq++)
        c.verifier.push(this.factory.expected(req, this.seq - 1), -Infinity)
        this.inflight++
        s.write(req)
        return
      }
      if (c.connectTimer !== null) { clearTimeout(c.connectTimer); c.connectTimer = null }
      if (c.recordConnect) this.opened++
      c.failures = 0
      if (this.cfg.churn) this.churnSend(c)
      else this.pump(c)
    })
    s.on('data', (chunk: Buffer) => this.onData(c, s, chunk))
    s.on('error', (err: NodeJS.ErrnoException) => this.drop(c, s, err.code ?? 'ERROR'))
    s.on('close', () => this.drop(c, s, 'EOF'))
  }

  /** Removes a failed socket: counts the error, forgets its requests, reconnects if the run goes on. */
  private drop (c: Conn, s: net.Socket, code: string): void {
    if (s !== c.sock) return
    c.sock = null
    c.connecting = false
    if (c.connectTimer !== null) { clearTimeout(c.connectTimer); c.connectTimer = null }
    s.destroy()
    if (this.phase === 'done') return
    const kind = errorKindOf(code)
    this.errors[kind]++
    this.errors.total++
    this.errors.byCode[code] = (this.errors.byCode[code] ?? 0) + 1
    let dropped = c.verifier.clear()
    if (c.pending) {
      // a churn transaction that had not sent its request yet still counted as in flight
      if (dropped === 0) dropped = 1
      c.pending = false
    }
    this.inflight -= dropped
    if (c.onProbe !== null) {
      const cb = c.onProbe
      c.onProbe = null
      cb(false)
      return
    }
    if (this.phase === 'running') {
      if (this.remaining === 0 && this.inflight === 0) { this.amountDone(); return }
      c.failures++
      // back off on repeated failures so a dead server is not hammered in a tight loop
      const delay = Math.min(1000, 5 * 2 ** Math.min(c.failures - 1, 8))
      c.retry = setTimeout(() => {
        c.retry = null
        if (this.phase !== 'running') return
        if (this.cfg.churn) this.churnNext(c)
        else this.openSocket(c, false)
      }, delay)
    } else if (this.phase === 'draining') {
      this.maybeFinishDrain()
    }
  }

  private onData (c: Conn, s: net.Socket, chunk: Buffer): void {
    if (s !== c.sock) return
    const t = this.now()
    this.tNow = t
    if (!c.firstByte) {
      c.firstByte = true
      if (c.recordConnect) recordLatencyMs(this.connectLatency, t - c.connStart)
    }
    if (!c.verifier.feed(chunk, this.onComplete)) {
      this.mismatches++
      this.drop(c, s, 'MISMATCH')
      return
    }
    if (c.onProbe !== null) {
      if (c.verifier.outstanding === 0) {
        if (c.connectTimer !== null) { clearTimeout(c.connectTimer); c.connectTimer = null }
        const cb = c.onProbe
        c.onProbe = null
        cb(true)
      }
      return
    }
    if (this.cfg.churn) {
      if (c.verifier.outstanding === 0) {
        // transaction done: close (ignoring the close event) and go on with the next
        c.pending = false
        c.sock = null
        s.destroy()
        if (this.phase === 'running') this.churnNext(c)
      }
    } else if (this.phase === 'running') {
      this.pump(c)
    }
    if (this.phase === 'draining') this.maybeFinishDrain()
    else if (this.remaining === 0 && this.inflight === 0 && this.phase === 'running') this.amountDone()
  }

  // ---- sending -------------------------------------------------------------------------------

  /** Sends as many requests on `c` as its free pipeline slots (closed) or its due schedule (open) allow. */
  private pump (c: Conn): void {
    const s = c.sock
    if (s === null || c.connecting || this.phase !== 'running') return
    const free = this.cfg.pipeline - c.verifier.outstanding
    if (free <= 0) return
    const t = this.now()
    if (t >= this.stopAt) return
    let k = 0
    let measured = 0
    if (this.schedule === null) {
      k = t >= this.measureStart ? Math.min(free, this.remaining) : free
      if (k === 0) return
      if (t >= this.measureStart) measured = k
      const batch = this.factory.batch(this.seq, k)
      this.seq += k
      for (let i = 0; i < k; i++) c.verifier.push(batch.expected[i]!, t)
      this.inflight += k
      this.account(measured, t)
      s.write(batch.wire)
      return
    }
    const sch = this.schedule
    const base = this.startAt
    while (k < free) {
      const at = base + sch.at(c.index, c.nextK + k)
      if (at > t || at >= this.stopAt) break
      if (at >= this.measureStart) {
        if (measured >= this.remaining) break
        measured++
      }
      k++
    }
    if (k === 0) return
    const batch = this.factory.batch(this.seq, k)
    this.seq += k
    for (let i = 0; i < k; i++) {
      // latency runs from the INTENDED send time (coordinated-omission correction, see latency.ts)
      c.verifier.push(batch.expected[i]!, base + sch.at(c.index, c.nextK + i))
    }
    c.nextK += k
    this.inflight += k
    this.account(measured, t)
    s.write(batch.wire)
  }

  /** Counts `measured` requests (all of one wire size) as sent. */
  private account (measured: number, t: number): void {
    if (measured === 0) return
    this.sent += measured
    this.remaining -= measured
    this.bytesSent += measured * this.factory.wireBytes
    if (this.remaining === 0) this.sendStop = t
  }

  /** Churn: starts the next connect-request-close transaction on slot `c`, if one is due. */
  private churnNext (c: Conn): void {
    if (this.phase !== 'running' || c.sock !== null || c.retry !== null) return
    const t = this.now()
    if (t >= this.stopAt) return
    let start = t
    if (this.schedule !== null) {
      start = this.startAt + this.schedule.at(c.index, c.nextK)
      if (start > t || start >= this.stopAt) return // the tick loop comes back for it
    }
    if (start >= this.measureStart) {
      if (this.remaining <= 0) return
      this.remaining--
      this.sent++
      if (this.remaining === 0) this.sendStop = t
    }
    if (this.schedule !== null) c.nextK++
    c.pendingStart = start
    c.pending = true
    this.inflight++
    this.openSocket(c, false)
  }

  private churnSend (c: Conn): void {
    const s = c.sock
    if (s === null) return
    const req = this.factory.request(this.seq++)
    // already counted in `inflight` by churnNext; onComplete takes it off
    c.verifier.push(this.factory.expected(req, this.seq - 1), c.pendingStart)
    if (c.pendingStart >= this.measureStart) this.bytesSent += req.length
    s.write(req)
  }

  /** Open loop: sends what is due on every connection, then sleeps until the next intended time. */
  private tick (): void {
    this.tickTimer = null
    if (this.phase !== 'running' || this.schedule === null) return
    let next = Infinity
    for (const c of this.conns) {
      if (this.cfg.churn) this.churnNext(c)
      else this.pump(c)
      const at = this.startAt + this.schedule.at(c.index, c.nextK)
      if (at < next) next = at
    }
    if (next >= this.stopAt) return
    // setTimeout has 1 ms granularity: a request may go out up to ~1 ms late, which its latency
    // (measured from the intended time) includes
    const delay = Math.min(50, Math.max(1, Math.ceil(next - this.now())))
    this.tickTimer = setTimeout(() => this.tick(), delay)
  }

  // ---- ending --------------------------------------------------------------------------------

  private amountDone (): void {
    if (Number.isNaN(this.sendStop)) this.sendStop = this.now()
    this.finish()
  }

  private beginDrain (): void {
    if (this.phase !== 'running') return
    this.phase = 'draining'
    if (Number.isNaN(this.sendStop)) this.sendStop = this.stopAt
    if (this.tickTimer !== null) { clearTimeout(this.tickTimer); this.tickTimer = null }
    for (const c of this.conns) {
      if (c.retry !== null) { clearTimeout(c.retry); c.retry = null }
      // (re)connecting persistent connections have nothing outstanding: give up on them now; a churn
      // transaction under way gets the drain window like any outstanding request
      if (c.sock !== null && c.connecting && !c.pending) {
        const s = c.sock
        c.sock = null
        c.connecting = false
        if (c.connectTimer !== null) { clearTimeout(c.connectTimer); c.connectTimer = null }
        s.destroy()
      }
    }
    if (this.inflight <= 0) { this.finish(); return }
    this.drainTimer = setTimeout(() => { this.drainTimer = null; this.finish() }, this.cfg.drainMs)
  }

  private maybeFinishDrain (): void {
    if (this.phase === 'draining' && this.inflight <= 0) this.finish()
  }

  private closeAll (): void {
    for (const c of this.conns) {
      if (c.retry !== null) { clearTimeout(c.retry); c.retry = null }
      if (c.connectTimer !== null) { clearTimeout(c.connectTimer); c.connectTimer = null }
      const s = c.sock
      c.sock = null
      c.connecting = false
      if (s !== null) s.destroy()
      if (c.onProbe !== null) {
        const cb = c.onProbe
        c.onProbe = null
        cb(false)
      }
    }
  }

  private finish (): void {
    if (this.phase === 'done') return
    const t = this.now()
    if (this.tickTimer !== null) clearTimeout(this.tickTimer)
    if (this.drainTimer !== null) clearTimeout(this.drainTimer)
    this.stopTimer?.cancel()
    this.startTimer?.cancel()
    this.tickTimer = this.drainTimer = null
    this.stopTimer = this.startTimer = null
    if (Number.isNaN(this.sendStop)) this.sendStop = Math.min(t, this.stopAt)
    // requests still unanswered: one timeout per connection that has any
    for (const c of this.conns) {
      const n = c.verifier.outstanding
      if ((n > 0 || c.pending) && c.sock !== null && !this.aborted) {
        this.errors.timeout++
        this.errors.total++
        this.errors.byCode.REPLY_TIMEOUT = (this.errors.byCode.REPLY_TIMEOUT ?? 0) + 1
      }
      c.verifier.clear()
      c.pending = false
    }
    this.inflight = 0
    this.phase = 'done'
    this.closeAll()
    let scheduled = 0
    let unsent = 0
    if (this.schedule !== null && this.began) {
      const sch = this.schedule
      const from = this.measureStart - this.startAt
      const until = this.stopAt - this.startAt
      for (const c of this.conns) {
        // requests intended in [measureStart, stopAt): k from ceil((from - first)/interval)
        const first = sch.at(c.index, 0)
        const kFrom = Math.max(0, Math.ceil((from - first) / sch.intervalMs))
        const kUntil = until > first ? Math.ceil((until - first) / sch.intervalMs) : 0
        const inWindow = Math.max(0, kUntil - kFrom)
        scheduled += inWindow
        unsent += Math.max(0, kUntil - Math.max(kFrom, c.nextK))
      }
      if (this.cfg.amount !== null) {
        scheduled = Math.min(scheduled, this.cfg.amount)
        unsent = Math.max(0, scheduled - this.sent)
      }
    }
    let cpu: ThreadCpu | null = null
    const cpuEnd = threadCpuSeconds()
    if (this.cpuStart !== null && cpuEnd !== null) {
      cpu = {
        userSec: cpuEnd.userSec - this.cpuStart.userSec,
        systemSec: cpuEnd.systemSec - this.cpuStart.systemSec,
        wallSec: (t - this.cpuWallStart) / 1000,
      }
    }
    const origin = performance.timeOrigin
    const measureStart = Number.isFinite(this.measureStart) ? this.measureStart : t
    const result: EngineResult = {
      connectionsOpened: this.opened,
      connectionsReady: this.ready,
      sent: this.sent,
      completed: this.completed,
      incomplete: this.sent - this.completed,
      scheduled,
      unsent,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      mismatches: this.mismatches,
      errors: this.errors,
      latency: encodeHistogram(this.latency),
      connectLatency: encodeHistogram(this.connectLatency),
      measureStart: measureStart + origin,
      sendStop: Math.max(measureStart, this.sendStop) + origin,
      lastReply: (Number.isNaN(this.lastReply) ? measureStart : this.lastReply) + origin,
      cpu,
      aborted: this.aborted,
    }
    const resolve = this.resolveRun
    this.resolveRun = null
    resolve?.(result)
  }
}
