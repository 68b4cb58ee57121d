import type { SharedStore } from '../handler.js'
import { localSharedStore } from '../shared-store.js'

/** A connection as the hub sees it: something broadcasts can be pushed to. */
export interface HubMember {
  readonly id: string
  push (data: Buffer): void
  /** The hub is no longer congested: handle messages (and read) again. */
  resumeBroadcasts? (): void
}

/**
 * Where `ctx.broadcast` and `ctx.shared` go. In one process it is a map of connections; models with
 * several processes give each process a hub that also forwards to the primary over IPC.
 */
export interface Hub {
  join (member: HubMember): void
  leave (id: string): void
  broadcast (fromId: string, data: Buffer): void
  readonly shared: SharedStore
  /**
   * True while broadcasts leave this process slower than they are made (another process relays
   * them): connections then handle no more messages, and read no more, until the hub calls their
   * `resumeBroadcasts`. A flooder is slowed to the relay's pace instead of growing memory.
   */
  readonly congested?: boolean
}

export class LocalHub implements Hub {
  protected readonly members = new Map<string, HubMember>()
  constructor (readonly shared: SharedStore = localSharedStore()) {}

  join (member: HubMember): void { this.members.set(member.id, member) }
  leave (id: string): void { this.members.delete(id) }

  broadcast (fromId: string, data: Buffer): void {
    this.deliver(fromId, data)
  }

  /** Pushes to every local member except the sender. */
  deliver (fromId: string, data: Buffer): void {
    for (const [id, member] of this.members) if (id !== fromId) member.push(data)
  }
}
