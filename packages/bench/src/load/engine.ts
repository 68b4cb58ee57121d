/**
 * The load engine: drives a share of the connections of a run from one thread (a worker thread, or the
 * caller's thread when `expect` is a function, which cannot cross threads). `tcp-load.ts` splits a run
 * over engines, starts them together and merges what they return.
 *
 * It composes a pacer (closed / open loop: when requests are due, pacer.ts) with a connection policy
 * (persistent / churn: which socket a request goes on, connection-policy.ts), and owns the sockets,
 * the counts and the timeline (all engines share an absolute start time):
 *   connect phase  every persistent connection connects and gets one probe request answered
 *                  (verified, not counted as load); its connect → first reply byte latency is recorded.
 *                  When connections open but no probe of this engine is answered within
 *                  `firstReplyTimeoutMs`, the phase ends there: the server does not answer these requests
 *   startAt        load starts
 *   measureStart   = startAt + warmupMs; only requests started from here on are measured
 *   stopAt         = measureStart + durationMs (or the time limit of an amount-only run): no new sends
 *   drain          up to drainMs for outstanding replies, then every socket is destroyed
 */
import net from 'node:net'
import { PreciseTimer, type Timeline } from './clock.js'
import { ChurnConnections, PersistentConnections, type ConnectionPolicy, type Phase, type PolicyHost } from './connection-policy.js'
import { createLatencyHistogram, encodeHistogram, recordLatencyMs } from './latency.js'
import type { Histogram } from './latency.js'
import { ClosedLoopPacer, OpenLoopPacer, type Pacer } from './pacer.js'
import { PayloadFactory, bytesEqual, preview } from './payload.js'
import type { Expect, LoadFraming, RequestSource } from './payload.js'
import { ScriptRequests, type LoadScript } from './script.js'
import { countError, emptyErrorCounts, type EngineResult, type ThreadCpu } from './result.js'
import { newSlot, type Slot } from './slot.js'
import { SecondBuckets } from './per-second.js'
import { threadCpuSeconds } from './thread-cpu.js'

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
  /** Connect phase: give up when no probe of this engine is answered this long after its first connection. */
  firstReplyTimeoutMs: number
  churn: boolean
  expect: Expect
  /** A load script's absolute path (loaded by whoever builds the engine), or null: `expect` decides. */
  script: string | null
  /** This engine's index among the run's engines, and their count (a script's request numbers). */
  engineIndex: number
  engines: number
  /** First sequence number (engines use disjoint ranges so every payload of a run differs). */
  seqBase: number
  /** CLK_TCK, the unit of /proc CPU times (`procSysConf()`, read once by the caller's process). */
  clockTicks: number
}

export class LoadEngine {
  private readonly factory: RequestSource
  private readonly pacer: Pacer
  private readonly policy: ConnectionPolicy
  private readonly conns: Slot[] = []
  private readonly latency: Histogram = createLatencyHistogram()
  private readonly connectLatency: Histogram = createLatencyHistogram()
  /** completions per second since the load started, warmup included (timelines) */
  private readonly seconds = new SecondBuckets()
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
  private firstMismatch: string | null = null
  private anyConnected = false
  private quietTimer: NodeJS.Timeout | null = null
  private opened = 0
  private ready = 0

  // local (performance.now()) times
  private readonly timeline: Timeline = { startAt: 0, measureStart: Infinity, stopAt: Infinity }
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

  /** `script`: the loaded load script when `cfg.script` names one. */
  constructor (private readonly cfg: EngineConfig, script?: LoadScript) {
    if (cfg.script !== null && script === undefined) throw new Error(`load script ${cfg.script} was not loaded`)
    this.factory = script !== undefined
      ? new ScriptRequests(script, cfg.framing, cfg.engineIndex, cfg.engines)
      : new PayloadFactory(cfg.framing, cfg.payloadBytes, cfg.expect)
    this.pacer = cfg.mode === 'open' ? new OpenLoopPacer(cfg.rate, cfg.totalConnections, this.timeline) : new ClosedLoopPacer()
    this.policy = cfg.churn ? new ChurnConnections(this.host()) : new PersistentConnections(this.host(), cfg.pipeline)
    this.seq = cfg.seqBase
    this.remaining = cfg.amount ?? Infinity
    for (let i = 0; i < cfg.connections; i++) {
      this.conns.push(newSlot(cfg.firstConnection + i, this.policy.capacity, this.factory.verifier(this.policy.capacity)))
    }
    this.onComplete = (start: number, bytes: number) => {
      this.inflight--
      // (probes start at -Infinity: not load)
      if (start > -Infinity) this.seconds.record(this.tNow - this.timeline.startAt, this.tNow - start)
      if (start >= this.timeline.measureStart) {
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
    if (!this.policy.probes || this.conns.length === 0) {
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
          if (this.quietTimer !== null) { clearTimeout(this.quietTimer); this.quietTimer = null }
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

  /**
   * Connect phase: the first connection is up; if no probe is answered within firstReplyTimeoutMs, the
   * server does not answer these requests (wrong framing, a handler that is no echo): every connection
   * still waiting fails now with NO_REPLY instead of waiting out the whole connect timeout.
   */
  private armQuietTimer (): void {
    if (this.anyConnected) return
    this.anyConnected = true
    if (this.cfg.firstReplyTimeoutMs >= this.cfg.connectTimeoutMs) return
    this.quietTimer = setTimeout(() => {
      this.quietTimer = null
      if (this.phase !== 'connecting' || this.ready > 0) return
      for (const c of this.conns) {
        if (c.onProbe !== null && c.sock !== null && !c.connecting) this.drop(c, c.sock, 'NO_REPLY')
      }
    }, this.cfg.firstReplyTimeoutMs)
  }

  /** Runs the load from `startAtAbs` (absolute ms, see absNow) until the end; resolves with the counts. */
  run (startAtAbs: number): Promise<EngineResult> {
    if (this.phase === 'running' || this.phase === 'draining' || this.phase === 'done') throw new Error('run() called twice')
    return new Promise((resolve) => {
      this.resolveRun = resolve
      const tl = this.timeline
      tl.startAt = startAtAbs - performance.timeOrigin
      tl.measureStart = tl.startAt + this.cfg.warmupMs
      tl.stopAt = tl.measureStart + this.cfg.durationMs
      this.startTimer = new PreciseTimer(tl.startAt, () => { this.startTimer = null; this.begin() })
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

  /** What the connection policy may use of this engine. */
  private host (): PolicyHost {
    const phase = (): Phase => this.phase
    return {
      get phase () { return phase() },
      timeline: this.timeline,
      now: () => this.now(),
      openSocket: (c, probe) => this.openSocket(c, probe),
      claim: (c, max, t) => this.claim(c, max, t),
      sendBatch: (c, s, starts) => this.sendBatch(c, s, starts),
      sendOne: (c, s, start) => this.sendOne(c, s, start),
    }
  }

  private now (): number {
    return performance.now()
  }

  private begin (): void {
    if (this.phase === 'done') return
    this.phase = 'running'
    this.began = true
    this.cpuStart = threadCpuSeconds(this.cfg.clockTicks)
    this.cpuWallStart = this.now()
    for (const c of this.conns) c.onProbe = null
    if (this.remaining <= 0) { this.amountDone(); return } // this engine's share of `amount` is 0
    this.stopTimer = new PreciseTimer(this.timeline.stopAt, () => { this.stopTimer = null; this.beginDrain() })
    for (const c of this.conns) this.policy.resume(c)
    if (this.pacer.timed) this.tick()
  }

  // ---- sockets -------------------------------------------------------------------------------

  private openSocket (c: Slot, probe: boolean): void {
    const target = this.cfg.target
    const s = 'path' in target
      ? net.connect({ path: target.path })
      : net.connect({ host: target.host ?? '127.0.0.1', port: target.port })
    c.sock = s
    c.connecting = true
    c.firstByte = false
    c.greetLeft = this.factory.greeting?.length ?? 0
    c.connStart = this.now()
    c.recordConnect = probe || this.policy.connectOrigin(c) >= this.timeline.measureStart
    s.setNoDelay(true)
    c.connectTimer = setTimeout(() => {
      c.connectTimer = null
      // connected but unanswered: the probe's reply is what is missing, not the connection
      this.drop(c, s, probe && !c.connecting ? 'NO_REPLY' : 'CONNECT_TIMEOUT')
    }, this.cfg.connectTimeoutMs)
    s.on('connect', () => {
      if (s !== c.sock) return
      c.connecting = false
      if (probe) {
        this.armQuietTimer()
        // the connect timeout also covers the probe's reply
        this.inflight++
        this.sendOne(c, s, -Infinity)
        return
      }
      if (c.connectTimer !== null) { clearTimeout(c.connectTimer); c.connectTimer = null }
      if (c.recordConnect) this.opened++
      c.failures = 0
      this.policy.connected(c)
    })
    s.on('data', (chunk: Buffer) => this.onData(c, s, chunk))
    s.on('error', (err: NodeJS.ErrnoException) => this.drop(c, s, err.code ?? 'ERROR'))
    s.on('close', () => this.drop(c, s, 'EOF'))
  }

  /** Removes a failed socket: counts the error, forgets its requests, reconnects if the run goes on. */
  private drop (c: Slot, s: net.Socket, code: string): void {
    if (s !== c.sock) return
    c.sock = null
    c.connecting = false
    if (c.connectTimer !== null) { clearTimeout(c.connectTimer); c.connectTimer = null }
    s.destroy()
    if (this.phase === 'done') return
    countError(this.errors, code)
    let dropped = c.verifier.clear()
    if (c.pending) {
      // a claimed request not written yet (churn, still connecting) counted as in flight too
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
        this.policy.resume(c)
      }, delay)
    } else if (this.phase === 'draining') {
      this.maybeFinishDrain()
    }
  }

  private onData (c: Slot, s: net.Socket, data: Buffer): void {
    let chunk = data
    if (s !== c.sock) return
    const t = this.now()
    this.tNow = t
    if (!c.firstByte) {
      c.firstByte = true
      if (c.recordConnect) recordLatencyMs(this.connectLatency, t - c.connStart)
    }
    if (c.greetLeft > 0) {
      // the greeting comes before any reply: check it, then go on with the rest of the chunk
      const g = this.factory.greeting!
      const off = g.length - c.greetLeft
      const n = Math.min(c.greetLeft, chunk.length)
      if (!bytesEqual(chunk, 0, g, off, n)) {
        this.mismatched(c, s, `expected the greeting ${preview(g.subarray(off))}, got ${preview(chunk)}`)
        return
      }
      c.greetLeft -= n
      chunk = chunk.subarray(n)
      if (chunk.length === 0) return
    }
    if (!c.verifier.feed(chunk, this.onComplete)) {
      this.mismatched(c, s, c.verifier.mismatch ?? 'the reply differed')
      return
    }
    if (c.onProbe !== null) {
      if (c.verifier.outstanding === 0 && c.greetLeft === 0) {
        if (c.connectTimer !== null) { clearTimeout(c.connectTimer); c.connectTimer = null }
        const cb = c.onProbe
        c.onProbe = null
        cb(true)
      }
      return
    }
    this.policy.replied(c, s)
    if (this.phase === 'draining') this.maybeFinishDrain()
    else if (this.remaining === 0 && this.inflight === 0 && this.phase === 'running') this.amountDone()
  }

  private mismatched (c: Slot, s: net.Socket, what: string): void {
    this.mismatches++
    this.firstMismatch ??= what
    this.drop(c, s, 'MISMATCH')
  }

  // ---- sending -------------------------------------------------------------------------------

  private claim (c: Slot, max: number, t: number): number[] {
    const { measureStart, stopAt } = this.timeline
    const starts: number[] = []
    let measured = 0
    while (starts.length < max) {
      const at = this.pacer.due(c, starts.length, t)
      if (at === null || at >= stopAt) break
      if (at >= measureStart) {
        if (measured >= this.remaining) break
        measured++
      }
      starts.push(at)
    }
    if (starts.length === 0) return starts
    this.pacer.advance(c, starts.length)
    this.inflight += starts.length
    if (measured > 0) {
      this.sent += measured
      this.remaining -= measured
      if (this.remaining === 0) this.sendStop = t
    }
    return starts
  }

  private sendBatch (c: Slot, s: net.Socket, starts: number[]): void {
    const k = starts.length
    const batch = this.factory.batch(this.seq, k)
    this.seq += k
    for (let i = 0; i < k; i++) c.verifier.push(batch.expected[i]!, starts[i]!)
    // measured requests' bytes (requests of a script differ in size: counted from the batch)
    const measureStart = this.timeline.measureStart
    if (starts[0]! >= measureStart) this.bytesSent += batch.wire.length
    else if (starts[k - 1]! >= measureStart) this.bytesSent += Math.round(batch.wire.length * starts.filter((x) => x >= measureStart).length / k)
    s.write(batch.wire)
  }

  private sendOne (c: Slot, s: net.Socket, start: number): void {
    const req = this.factory.request(this.seq++)
    c.verifier.push(this.factory.expected(req, this.seq - 1), start)
    if (start >= this.timeline.measureStart) this.bytesSent += req.length
    s.write(req)
  }

  /** Timed pacing: sends what is due on every connection, then sleeps until the next due time. */
  private tick (): void {
    this.tickTimer = null
    if (this.phase !== 'running') return
    let next = Infinity
    for (const c of this.conns) {
      this.policy.poll(c)
      const at = this.pacer.nextDue(c)
      if (at < next) next = at
    }
    if (next >= this.timeline.stopAt) return
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
    // the open loop's requests intended before the stop go out even when their tick ran late
    // (a loaded machine fires timers late): only a busy slot or a down connection leaves one unsent
    if (this.pacer.timed) for (const c of this.conns) this.policy.poll(c)
    this.phase = 'draining'
    if (Number.isNaN(this.sendStop)) this.sendStop = this.timeline.stopAt
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
    if (this.quietTimer !== null) { clearTimeout(this.quietTimer); this.quietTimer = null }
    this.stopTimer?.cancel()
    this.startTimer?.cancel()
    this.tickTimer = this.drainTimer = null
    this.stopTimer = this.startTimer = null
    if (Number.isNaN(this.sendStop)) this.sendStop = Math.min(t, this.timeline.stopAt)
    // requests still unanswered: one timeout per connection that has any
    for (const c of this.conns) {
      const n = c.verifier.outstanding
      if ((n > 0 || c.pending) && c.sock !== null && !this.aborted) countError(this.errors, 'REPLY_TIMEOUT')
      c.verifier.clear()
      c.pending = false
    }
    this.inflight = 0
    this.phase = 'done'
    this.closeAll()
    const { scheduled, unsent } = this.began ? this.pacer.tally(this.conns, this.sent, this.cfg.amount) : { scheduled: 0, unsent: 0 }
    let cpu: ThreadCpu | null = null
    const cpuEnd = threadCpuSeconds(this.cfg.clockTicks)
    if (this.cpuStart !== null && cpuEnd !== null) {
      cpu = {
        userSec: cpuEnd.userSec - this.cpuStart.userSec,
        systemSec: cpuEnd.systemSec - this.cpuStart.systemSec,
        wallSec: (t - this.cpuWallStart) / 1000,
      }
    }
    const origin = performance.timeOrigin
    const measureStart = Number.isFinite(this.timeline.measureStart) ? this.timeline.measureStart : t
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
      firstMismatch: this.firstMismatch,
      errors: this.errors,
      latency: encodeHistogram(this.latency),
      connectLatency: encodeHistogram(this.connectLatency),
      measureStart: measureStart + origin,
      sendStop: Math.max(measureStart, this.sendStop) + origin,
      lastReply: (Number.isNaN(this.lastReply) ? measureStart : this.lastReply) + origin,
      cpu,
      aborted: this.aborted,
      seconds: this.seconds.result(),
    }
    const resolve = this.resolveRun
    this.resolveRun = null
    resolve?.(result)
  }
}
