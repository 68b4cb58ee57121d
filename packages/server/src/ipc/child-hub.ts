import { LocalHub, sharedStoreClient, type SharedOp } from '@echoplex/core'
import type { Peer } from './peer.js'
import type { ChildToPrimary, PrimaryToChild } from './protocol.js'

/** A child process's end of its IPC channel to the primary. */
export type PrimaryPeer = Peer<PrimaryToChild, ChildToPrimary>

/**
 * A child process's hub: delivers to its own connections and forwards to the primary, which relays to
 * the other children; shared-store operations are requests to the primary (errors.SHARED_FAILED when
 * they fail, or when the primary is gone).
 *
 * Broadcasts not yet written to the IPC pipe are counted: past `budgetBytes` the hub is congested and
 * this process's connections stop handling messages until half of it has left, so a flooding client
 * is slowed to the relay's pace (as one process slows it to its sockets' pace) and neither memory nor
 * the heartbeats queued behind the backlog grow without bound.
 */
export class ChildHub extends LocalHub {
  /** Broadcast bytes handed to the IPC channel and not yet written. */
  private outstanding = 0
  private blocked = false
  /** Where the next drain starts resuming connections (round robin). */
  private resumeFrom = 0
  /** Times the relay was congested. */
  congestions = 0

  constructor (private readonly primary: PrimaryPeer, private readonly budgetBytes = Infinity) {
    super(sharedStoreClient(async (op: SharedOp) => await primary.request({ type: 'shared', op })))
    primary.on('broadcast', (message) => {
      this.deliver(message.from, Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength))
    })
  }

  get congested (): boolean { return this.blocked }

  override broadcast (fromId: string, data: Buffer): void {
    this.deliver(fromId, data)
    const size = data.length
    this.outstanding += size
    const sent = this.primary.send({ type: 'broadcast', from: fromId, data }, undefined, () => this.written(size))
    if (!sent) { this.written(size); return }
    if (!this.blocked && this.outstanding > this.budgetBytes) {
      this.blocked = true
      this.congestions++
    }
  }

  private written (size: number): void {
    this.outstanding -= size
    if (!this.blocked || this.outstanding > this.budgetBytes / 2) return
    this.blocked = false
    // in turn, from where the last drain stopped: a flooder first in line must not starve the rest
    const members = [...this.members.values()]
    for (let i = 0; i < members.length && !this.blocked; i++) {
      const member = members[(this.resumeFrom + i) % members.length]!
      member.resumeBroadcasts?.()
      if (this.blocked) this.resumeFrom = (this.resumeFrom + i + 1) % members.length
    }
  }
}
