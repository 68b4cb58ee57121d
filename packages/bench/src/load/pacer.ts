/**
 * When requests go out: the pacer of a run.
 * - Closed loop: a request goes out as soon as a slot is free; its latency runs from the actual send.
 * - Open loop: requests have fixed intended send times (`openLoopSchedule`); latency runs from the
 *   INTENDED time (coordinated-omission correction, see latency.ts), and a tick sends what falls due.
 */
import type { Timeline } from './clock.js'
import { openLoopSchedule, type OpenLoopSchedule } from './latency.js'

/** What a pacer knows of a connection. */
export interface PacedConnection {
  /** Global index of the connection (open-loop offset). */
  readonly index: number
  /** Open loop: index of the next request in this connection's schedule. */
  nextK: number
}

export interface Pacer {
  /** Whether requests fall due with time (the engine then ticks), not only when replies free a slot. */
  readonly timed: boolean
  /**
   * The latency origin of request `i` (0-based) after those already sent on `c`, if it is due at local
   * time `t`; null when it is not due yet.
   */
  due (c: PacedConnection, i: number, t: number): number | null
  /** `k` requests went out on `c`. */
  advance (c: PacedConnection, k: number): void
  /** When the next request on `c` falls due (Infinity: whenever a slot is free). */
  nextDue (c: PacedConnection): number
  /** Measured requests that were meant to go out, and how many of them never did. */
  tally (conns: readonly PacedConnection[], sent: number, amount: number | null): { scheduled: number, unsent: number }
}

export class ClosedLoopPacer implements Pacer {
  readonly timed = false
  due (_c: PacedConnection, _i: number, t: number): number { return t }
  advance (): void {}
  nextDue (): number { return Infinity }
  tally (): { scheduled: number, unsent: number } { return { scheduled: 0, unsent: 0 } }
}

export class OpenLoopPacer implements Pacer {
  readonly timed = true
  private readonly schedule: OpenLoopSchedule

  /** `rate` requests per second over `totalConnections` (the whole run's), from `timeline.startAt`. */
  constructor (rate: number, totalConnections: number, private readonly timeline: Timeline) {
    this.schedule = openLoopSchedule(rate, totalConnections)
  }

  due (c: PacedConnection, i: number, t: number): number | null {
    const at = this.timeline.startAt + this.schedule.at(c.index, c.nextK + i)
    return at > t ? null : at
  }

  advance (c: PacedConnection, k: number): void {
    c.nextK += k
  }

  nextDue (c: PacedConnection): number {
    return this.timeline.startAt + this.schedule.at(c.index, c.nextK)
  }

  tally (conns: readonly PacedConnection[], sent: number, amount: number | null): { scheduled: number, unsent: number } {
    const sch = this.schedule
    const from = this.timeline.measureStart - this.timeline.startAt
    const until = this.timeline.stopAt - this.timeline.startAt
    let scheduled = 0
    let unsent = 0
    for (const c of conns) {
      // requests intended in [measureStart, stopAt): k from ceil((from - first)/interval)
      const first = sch.at(c.index, 0)
      const kFrom = Math.max(0, Math.ceil((from - first) / sch.intervalMs))
      const kUntil = until > first ? Math.ceil((until - first) / sch.intervalMs) : 0
      scheduled += Math.max(0, kUntil - kFrom)
      unsent += Math.max(0, kUntil - Math.max(kFrom, c.nextK))
    }
    if (amount !== null) {
      scheduled = Math.min(scheduled, amount)
      unsent = Math.max(0, scheduled - sent)
    }
    return { scheduled, unsent }
  }
}
