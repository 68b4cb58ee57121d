/**
 * How requests use connections: the connection policy of a run.
 * - Persistent: each slot keeps one connection open (probed before the run, reopened after a failure)
 *   with up to `pipeline` requests outstanding on it.
 * - Churn: every request gets its own connection: connect, send one payload, read the reply, close;
 *   its latency is the whole transaction, and its connect latency is measured when the request is.
 * The pacer decides when requests are due; the engine owns the sockets, the counts and the run's end.
 */
import type net from 'node:net'
import type { Timeline } from './clock.js'
import type { Slot } from './slot.js'

export type Phase = 'idle' | 'connecting' | 'ready' | 'running' | 'draining' | 'done'

/** What a policy may ask of its engine. */
export interface PolicyHost {
  readonly phase: Phase
  readonly timeline: Timeline
  now (): number
  /** Opens a socket for `c` (a probe one in the connect phase). */
  openSocket (c: Slot, probe: boolean): void
  /**
   * Claims up to `max` requests due on `c` at `t` (the pacer's due times within the run's bounds and the
   * remaining amount), counts the measured ones as sent and as in flight, and returns their latency
   * origins (their bytes are counted when they are written).
   */
  claim (c: Slot, max: number, t: number): number[]
  /** Writes claimed requests on `s` in one batch, expecting their replies from the given origins. */
  sendBatch (c: Slot, s: net.Socket, starts: number[]): void
  /** Writes one request on `s`, its latency running from `start` (bytes counted when measured). */
  sendOne (c: Slot, s: net.Socket, start: number): void
}

export interface ConnectionPolicy {
  /** Requests a connection may have outstanding. */
  readonly capacity: number
  /** Whether every slot connects and is probed before the run. */
  readonly probes: boolean
  /** The time whose being measured decides whether a new socket's connect latency is. */
  connectOrigin (c: Slot): number
  /** The run starts, or a failed slot's back-off is over: get `c` going. */
  resume (c: Slot): void
  /** Open-loop tick: send what is due on `c`. */
  poll (c: Slot): void
  /** `c`'s socket connected (outside the connect phase). */
  connected (c: Slot): void
  /** Replies on `c`'s socket `s` were verified (outside the connect phase). */
  replied (c: Slot, s: net.Socket): void
}

export class PersistentConnections implements ConnectionPolicy {
  readonly probes = true

  constructor (private readonly host: PolicyHost, readonly capacity: number) {}

  connectOrigin (c: Slot): number { return c.connStart }

  resume (c: Slot): void {
    if (c.sock === null && !c.connecting) this.host.openSocket(c, false)
    else this.pump(c)
  }

  poll (c: Slot): void { this.pump(c) }
  connected (c: Slot): void { this.pump(c) }

  replied (c: Slot): void {
    if (this.host.phase === 'running') this.pump(c)
  }

  /** Sends as many requests on `c` as its free pipeline slots and the pacer allow. */
  private pump (c: Slot): void {
    const s = c.sock
    if (s === null || c.connecting || this.host.phase !== 'running') return
    const free = this.capacity - c.verifier.outstanding
    if (free <= 0) return
    // no time check: claim() takes only requests intended before the stop, so a request the
    // open loop owed before the stop still goes out when its timer ran late
    const starts = this.host.claim(c, free, this.host.now())
    if (starts.length > 0) this.host.sendBatch(c, s, starts)
  }
}

export class ChurnConnections implements ConnectionPolicy {
  readonly capacity = 1
  readonly probes = false

  constructor (private readonly host: PolicyHost) {}

  // a connection belongs to its request: measured when the request is
  connectOrigin (c: Slot): number { return c.pendingStart }

  resume (c: Slot): void { this.next(c) }
  poll (c: Slot): void { this.next(c) }

  connected (c: Slot): void {
    const s = c.sock
    // already counted in `inflight` by claim(); the reply takes it off
    if (s !== null) this.host.sendOne(c, s, c.pendingStart)
  }

  replied (c: Slot, s: net.Socket): void {
    if (c.verifier.outstanding !== 0) return
    // transaction done: close (ignoring the close event) and go on with the next
    c.pending = false
    c.sock = null
    s.destroy()
    if (this.host.phase === 'running') this.next(c)
  }

  /** Starts the next connect-request-close transaction on `c`, if one is due. */
  private next (c: Slot): void {
    if (this.host.phase !== 'running' || c.sock !== null || c.retry !== null) return
    const starts = this.host.claim(c, 1, this.host.now()) // intended before the stop only
    if (starts.length === 0) return // not due yet: an open-loop tick comes back for it
    c.pendingStart = starts[0]!
    c.pending = true
    this.host.openSocket(c, false)
  }
}
