import { MemorySharedStore } from '@echoplex/core'
import type { Peer } from './peer.js'
import type { ChildToPrimary, PrimaryToChild } from './protocol.js'

/** The primary's end of one child's IPC channel. */
export type ChildPeer = Peer<ChildToPrimary, PrimaryToChild>

/**
 * The primary's side of broadcast and shared state: hosts the one store (every operation applied
 * here, in arrival order, hence atomic) and relays each broadcast to every other child.
 */
export class PrimaryHub {
  readonly store = new MemorySharedStore()
  private readonly peers = new Set<ChildPeer>()

  /** Serves a child's broadcasts and shared-store requests until `remove`. */
  add (peer: ChildPeer): void {
    this.peers.add(peer)
    peer.on('broadcast', (message) => {
      for (const other of this.peers) if (other !== peer && other.isConnected()) other.send(message)
    })
    peer.answer('shared', (message) => this.store.apply(message.op))
  }

  remove (peer: ChildPeer): void { this.peers.delete(peer) }
}
