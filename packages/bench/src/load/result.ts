import type { EngineSeconds } from './per-second.js'

/**
 * What one load engine reports, and how its errors are counted. Plain data: a result crosses from a
 * worker thread to `tcp-load.ts`, which merges the results of every engine of a run.
 */

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
  /**
   * Counts by error code (`ECONNREFUSED`, `EOF`, `MISMATCH`, `CONNECT_TIMEOUT`, `REPLY_TIMEOUT`, `NO_REPLY`: connected in
   * the connect phase but the first request got no reply...).
   */
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
    case 'ETIMEDOUT': case 'CONNECT_TIMEOUT': case 'REPLY_TIMEOUT': case 'NO_REPLY': return 'timeout'
    case 'EOF': return 'closed'
    case 'MISMATCH': return 'mismatch'
    default: return 'other'
  }
}

/** Counts one error with code `code` under its kind, its code and the total. */
export function countError (errors: ErrorCounts, code: string): void {
  errors[errorKindOf(code)]++
  errors.total++
  errors.byCode[code] = (errors.byCode[code] ?? 0) + 1
}

export interface ThreadCpu { userSec: number, systemSec: number, wallSec: number }

/** What an engine reports. Times are absolute ms (epoch-based, see absNow). */
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
  /** What the first mismatched reply looked like (expected vs got), or null. */
  firstMismatch: string | null
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
  /** per-second completions and latency since the load started (absent from engines that do not record them) */
  seconds?: EngineSeconds
}
