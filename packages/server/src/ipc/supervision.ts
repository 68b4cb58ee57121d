import { EchoplexError, errors } from '@echoplex/core'
import { ResourceError } from './spawner.js'
import type { ChildToPrimary } from './protocol.js'

/** More failures than `limit` within `windowMs` is a crash loop: halt instead of starting more. */
export class CrashGuard {
  private times: number[] = []
  constructor (readonly limit = 5, readonly windowMs = 10_000) {}

  /** Records one failure now; true when the window holds more than the limit. */
  record (now = Date.now()): boolean {
    this.times = [...this.times.filter((t) => now - t < this.windowMs), now]
    return this.times.length > this.limit
  }

  /** Failures within the window, as of the last record. */
  get recent (): number { return this.times.length }
}

/**
 * How long to wait before replacing a child that died at runtime (a handler's process.exit, a throw
 * nothing caught): at once for the first `free` deaths within the window, then doubling from `baseMs`
 * up to `maxMs`. Clients can cause such deaths, so they never halt the server; only children that
 * cannot boot do (CrashGuard).
 */
export class RespawnBackoff {
  private times: number[] = []
  constructor (readonly free = 3, readonly windowMs = 10_000, readonly baseMs = 100, readonly maxMs = 2000) {}

  /** Records one death now; resolves the delay before its replacement starts. */
  next (now = Date.now()): number {
    this.times = [...this.times.filter((t) => now - t < this.windowMs), now]
    const over = this.times.length - this.free
    return over <= 0 ? 0 : Math.min(this.maxMs, this.baseMs * 2 ** (over - 1))
  }
}

/** The error a child's `boot-failed` stands for: its own, when it has a code (one line for the user). */
export function bootError (message: Extract<ChildToPrimary, { type: 'boot-failed' }>, model: string): EchoplexError {
  return message.code !== undefined
    ? new EchoplexError(message.code, message.error)
    : errors.MODEL_FAILED(model, `failed while booting: ${message.error}`)
}

/**
 * A failed boot worth retrying: the OS refused the process (ResourceError), or the child died while
 * booting (MODEL_FAILED). A child that reported its handler cannot load (boot-failed) never will.
 */
export function isRetryableBoot (err: Error): boolean {
  return err instanceof ResourceError || (err as { code?: string }).code === errors.MODEL_FAILED.code
}

/**
 * Tells a watchdog tick that comes late because this process itself was not running (SIGSTOP, swap,
 * a long GC pause, a debugger, a paused VM) from one that comes on time. After such a stall every
 * child looks silent: its heartbeats wait unread in the IPC pipe, and timers run before I/O is read.
 * Silence must then be counted again from the tick that noticed the stall, once the backlog is read.
 */
export class StallDetector {
  private lastTick = Date.now()
  /** When this process last came back from a stall (0: never). */
  resumedAt = 0
  /** Stalls seen so far. */
  stalls = 0
  constructor (private readonly periodMs: number) {}

  /** Called on every tick of a `periodMs` interval; true when this tick is late by more than half a period. */
  tick (now = Date.now()): boolean {
    const late = now - this.lastTick > this.periodMs * 1.5
    this.lastTick = now
    if (late) {
      this.resumedAt = now
      this.stalls++
    }
    return late
  }
}

/**
 * Calls `onSilent` for each watched child that sent no heartbeat for `heartbeatMs` while this process
 * was running: a handler stuck in a loop blocks its process's event loop, and the heartbeat with it.
 * A tick that finds this process was stalled judges no one; silence then counts from that tick (the
 * heartbeats queued meanwhile are read right after it). The timer is unref'd; none when the heartbeat
 * is disabled (0).
 */
export function watchHeartbeats<T extends { lastBeat: number }> (heartbeatMs: number, children: () => Iterable<T>, watched: (child: T) => boolean, onSilent: (child: T, silentMs: number) => void, stall?: StallDetector): NodeJS.Timeout | undefined {
  if (heartbeatMs <= 0) return undefined
  const periodMs = Math.max(50, heartbeatMs / 2)
  const detector = stall ?? new StallDetector(periodMs)
  const timer = setInterval(() => {
    const now = Date.now()
    if (detector.tick(now)) return
    for (const child of children()) {
      const silentMs = now - Math.max(child.lastBeat, detector.resumedAt)
      if (watched(child) && silentMs > heartbeatMs) onSilent(child, silentMs)
    }
  }, periodMs)
  timer.unref()
  return timer
}
