import { EchoplexError, addCounters, errors, newCounters, type ConnectionCounters } from '@echoplex/core'
import type { ChildToPrimary } from './protocol.js'
import { send, type ChildChannel } from './primary-hub.js'

/**
 * Book-keeping a primary keeps about its children: their counters (asked for, and left behind when they
 * exit), connections they closed by force, and when each last proved alive. Shared by the cluster and
 * fork primaries, which handle only their own messages (ready, serving) themselves.
 */
export class ChildBook {
  /** Connections children closed by force when a drain ran past its grace period. */
  forced = 0

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

  /** Handles the messages every child sends; false for the rest. */
  routine (message: ChildToPrimary, child: { lastBeat: number }): boolean {
    switch (message.t) {
      case 'heartbeat':
        child.lastBeat = Date.now()
        return true
      case 'stats':
        this.answer(message.id, message.counters)
        return true
      case 'bye':
        this.retire(message.counters)
        this.forced += message.forced
        return true
      default:
        return false
    }
  }
}

/** The error a child's `boot-failed` stands for: its own, when it has a code (one line for the user). */
export function bootError (message: Extract<ChildToPrimary, { t: 'boot-failed' }>, who: string): EchoplexError {
  return message.code !== undefined
    ? new EchoplexError(message.code, message.error)
    : errors.MODEL_FAILED(who, `failed while booting: ${message.error}`)
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
