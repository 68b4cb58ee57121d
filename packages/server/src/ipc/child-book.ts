import { addCounters, newCounters, type ConnectionCounters } from '@echoplex/core'
import type { ChildPeer } from './primary-hub.js'

/**
 * The counters a primary keeps about its children: asked of the live ones, left behind by those that
 * exited, and the connections they closed by force when a drain ran past its grace period.
 */
export class ChildBook {
  /** Connections children closed by force when a drain ran past its grace period. */
  forced = 0
  /** Counters reported by children that have exited. */
  readonly retired: ConnectionCounters = newCounters()

  /** Asks every peer for its counters (a `stats` request); children that do not answer in time count as zero. `each` sees every answer. */
  async collect (peers: ChildPeer[], timeoutMs = 1000, each?: (index: number, counters: ConnectionCounters) => void): Promise<ConnectionCounters> {
    const total = addCounters(newCounters(), this.retired)
    total.connectionsActive = 0
    const answers = await Promise.all(peers.map(async (peer) =>
      await peer.request<ConnectionCounters>({ type: 'stats' }, { timeoutMs }).catch(() => undefined)))
    answers.forEach((counters, i) => {
      if (counters === undefined) return
      each?.(i, counters)
      addCounters(total, counters)
    })
    return total
  }

  /** A child's last word (`bye`): its counters and the connections it closed by force. */
  retire (counters: ConnectionCounters | undefined, forced: number): void {
    this.forced += forced
    if (counters === undefined) return
    addCounters(this.retired, { ...counters, connectionsActive: 0 })
  }
}
