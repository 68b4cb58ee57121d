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
 * Calls `onSilent` for each watched child that sent no heartbeat for `heartbeatMs`: a handler stuck in
 * a loop blocks its process's event loop, and the heartbeat with it. The timer is unref'd; none when
 * the heartbeat is disabled (0).
 */
export function watchHeartbeats<T extends { lastBeat: number }> (heartbeatMs: number, children: () => Iterable<T>, watched: (child: T) => boolean, onSilent: (child: T, silentMs: number) => void): NodeJS.Timeout | undefined {
  if (heartbeatMs <= 0) return undefined
  const timer = setInterval(() => {
    const now = Date.now()
    for (const child of children()) {
      if (watched(child) && now - child.lastBeat > heartbeatMs) onSilent(child, now - child.lastBeat)
    }
  }, Math.max(50, heartbeatMs / 2))
  timer.unref()
  return timer
}
