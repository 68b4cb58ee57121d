import { MemorySharedStore } from '@echoplex/core'
import type { Peer } from './peer.js'
import type { ChildToPrimary, PrimaryToChild } from './protocol.js'

/** The primary's end of one child's IPC channel. */
export type ChildPeer = Peer<ChildToPrimary, PrimaryToChild>

/**
 * The primary's side of broadcast and shared state: hosts the one store (every operation applied
 * here, in arrival order, hence atomic) and relays each broadcast to every other child.
 *
 * What waits to be written to each child's pipe is counted: a child that does not read its channel
 * fast enough (its own clients are slow, or it is stuck) is skipped once `budgetBytes` wait for it —
 * its connections miss those broadcasts (counted in `dropped`), as a client that does not read is
 * dropped rather than buffered — so the primary's memory stays bounded, and the sender is never held.
 */
export class PrimaryHub {
  readonly store = new MemorySharedStore()
  /** Per child: broadcast bytes waiting for its pipe, and whether it takes broadcasts now. */
  private readonly children = new Map<ChildPeer, { waiting: number, listening: () => boolean }>()
  /** Broadcasts not relayed to a child because too much was already waiting for it. */
  dropped = 0

  constructor (private readonly budgetBytes = Infinity) {}

  /**
   * Serves a child's broadcasts and shared-store requests until `remove`. `listening` says whether the
   * child has connections to deliver broadcasts to (fork's idle children have none: relaying to them
   * would cost a copy and a parse per spare for nothing).
   */
  add (peer: ChildPeer, listening: () => boolean = () => true): void {
    this.children.set(peer, { waiting: 0, listening })
    peer.on('broadcast', (message) => {
      const size = message.data.byteLength
      for (const [other, child] of this.children) {
        if (other === peer || !other.isConnected() || !child.listening()) continue
        if (child.waiting > this.budgetBytes) { this.dropped++; continue }
        child.waiting += size
        const sent = other.send(message, undefined, () => { child.waiting -= size })
        if (!sent) child.waiting -= size
      }
    })
    peer.answer('shared', (message) => this.store.apply(message.op))
  }

  remove (peer: ChildPeer): void { this.children.delete(peer) }
}
