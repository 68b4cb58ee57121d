import { randomInt } from 'node:crypto'
import type { ConnectionCounters } from '@echoplex/core'
import type { RecyclePolicy, RecycleReason } from './protocol.js'

/** How often a child that serves many connections at once (a cluster worker) looks at its limits. */
export const RECYCLE_CHECK_MS = 250

export const NO_RECYCLING: RecyclePolicy = { maxRequests: 0, maxRequestsJitter: 0, maxMemoryBytes: 0 }

/**
 * A child's own view of its recycling limits: requests (messages handled) past its limit — drawn once
 * per child, maxRequests plus up to `jitter`, so a fleet started together does not recycle together —
 * or a resident set past maxMemoryBytes. The child checks; the primary replaces.
 */
export class Recycler {
  /** This child's request limit (0: none). */
  readonly requestLimit: number

  constructor (
    readonly policy: RecyclePolicy,
    private readonly counters: () => ConnectionCounters,
    private readonly rss: () => number = () => process.memoryUsage.rss(),
  ) {
    this.requestLimit = policy.maxRequests > 0 ? policy.maxRequests + (policy.maxRequestsJitter > 0 ? randomInt(policy.maxRequestsJitter + 1) : 0) : 0
  }

  /** Whether any limit is set at all. */
  get active (): boolean { return this.requestLimit > 0 || this.policy.maxMemoryBytes > 0 }

  /** The limit this child is over now, if any. */
  over (): RecycleReason | undefined {
    if (this.requestLimit > 0 && this.counters().messages >= this.requestLimit) return 'requests'
    if (this.policy.maxMemoryBytes > 0 && this.rss() >= this.policy.maxMemoryBytes) return 'memory'
    return undefined
  }

  /** Looks every `everyMs` and calls `onOver` once, the first time a limit is passed. No timer when inactive. */
  watch (onOver: (reason: RecycleReason) => void, everyMs = RECYCLE_CHECK_MS): NodeJS.Timeout | undefined {
    if (!this.active) return undefined
    const timer = setInterval(() => {
      const reason = this.over()
      if (reason === undefined) return
      clearInterval(timer)
      onOver(reason)
    }, everyMs)
    timer.unref()
    return timer
  }
}
