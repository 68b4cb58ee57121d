import { LocalHub, sharedStoreClient, type SharedOp } from '@echoplex/core'
import type { Peer } from './peer.js'
import type { ChildToPrimary, PrimaryToChild } from './protocol.js'

/** A child process's end of its IPC channel to the primary. */
export type PrimaryPeer = Peer<PrimaryToChild, ChildToPrimary>

/**
 * A child process's hub: delivers to its own connections and forwards to the primary, which relays to
 * the other children; shared-store operations are requests to the primary (errors.SHARED_FAILED when
 * they fail, or when the primary is gone).
 */
export class ChildHub extends LocalHub {
  constructor (private readonly primary: PrimaryPeer) {
    super(sharedStoreClient(async (op: SharedOp) => await primary.request({ type: 'shared', op })))
    primary.on('broadcast', (message) => {
      this.deliver(message.from, Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength))
    })
  }

  override broadcast (fromId: string, data: Buffer): void {
    this.deliver(fromId, data)
    this.primary.send({ type: 'broadcast', from: fromId, data })
  }
}
