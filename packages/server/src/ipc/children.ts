import { addCounters, newCounters, type ConnectionCounters } from '@echoplex/core'
import { send, type ChildChannel } from './primary-hub.js'

/**
 * Book-keeping a primary keeps per child: when it last proved alive (heartbeats), and the stats
 * requests in flight to it. Shared by the cluster and fork primaries.
 */
export class ChildStatsCollector {
  private nextId = 0
  private readonly waiting = new Map<number, (counters: ConnectionCounters) => void>()
  /** Counters reported by children that have exited. */
  readonly retired: ConnectionCounters = newCounters()

  /** Asks every channel for its counters; children that do not answer in time count as zero. */
  async collect (channels: ChildChannel[], timeoutMs = 1000): Promise<ConnectionCounters> {
    const total = addCounters(newCounters(), this.retired)
    total.connectionsActive = 0
    const answers = await Promise.all(channels.map(async (channel) => await new Promise<ConnectionCounters | undefined>((resolve) => {
      const id = ++this.nextId
      const timer = setTimeout(() => { this.waiting.delete(id); resolve(undefined) }, timeoutMs)
      this.waiting.set(id, (counters) => { clearTimeout(timer); this.waiting.delete(id); resolve(counters) })
      send(channel, { t: 'stats-request', id })
    })))
    for (const counters of answers) if (counters !== undefined) addCounters(total, counters)
    return total
  }

  answer (id: number, counters: ConnectionCounters): void { this.waiting.get(id)?.(counters) }

  retire (counters: ConnectionCounters | undefined): void {
    if (counters === undefined) return
    addCounters(this.retired, { ...counters, connectionsActive: 0 })
  }
}
