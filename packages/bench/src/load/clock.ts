/** The clocks of a load run: absolute times comparable across threads, and a timer that never fires early. */

/** Absolute milliseconds (epoch based, sub-ms precision) comparable across threads. */
export function absNow (): number {
  return performance.timeOrigin + performance.now()
}

/**
 * Calls `fn` at `performance.now()` time `when`, never before. Node timers run on libuv's whole-
 * millisecond clock and can fire up to ~1 ms early by performance.now(); the rest is waited out, so the
 * measurement boundaries (start, stop) are exact.
 */
export class PreciseTimer {
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

/**
 * The local (`performance.now()`) times that bound an engine's run, set when it starts:
 *   startAt       load starts
 *   measureStart  = startAt + warmup; only requests started from here on are measured
 *   stopAt        = measureStart + duration: no new sends
 */
export interface Timeline {
  startAt: number
  measureStart: number
  stopAt: number
}
