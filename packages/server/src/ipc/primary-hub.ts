import { MemorySharedStore, describeError } from '@echoplex/core'
import type { ChildToPrimary, PrimaryToChild } from './protocol.js'

/** Anything the primary can send to: a cluster Worker or a ChildProcess. */
export interface ChildChannel {
  send (message: PrimaryToChild, callback?: (err: Error | null) => void): boolean
  isConnected (): boolean
}

/**
 * The primary's side of broadcast and shared state: hosts the one store (every operation applied
 * here, in arrival order, hence atomic) and relays each broadcast to every other child.
 */
export class PrimaryHub {
  readonly store = new MemorySharedStore()
  private readonly channels = new Set<ChildChannel>()

  add (channel: ChildChannel): void { this.channels.add(channel) }
  remove (channel: ChildChannel): void { this.channels.delete(channel) }

  /** Handles the hub's share of a child's messages; returns false for messages that are not its. */
  handle (from: ChildChannel, message: ChildToPrimary): boolean {
    switch (message.t) {
      case 'broadcast':
        for (const channel of this.channels) {
          if (channel !== from && channel.isConnected()) send(channel, message)
        }
        return true
      case 'shared': {
        let reply: PrimaryToChild
        try {
          reply = { t: 'shared-result', id: message.id, ok: true, value: this.store.apply(message.op) }
        } catch (err) {
          reply = { t: 'shared-result', id: message.id, ok: false, error: describeError(err) }
        }
        if (from.isConnected()) send(from, reply)
        return true
      }
      default:
        return false
    }
  }
}

/** Sends, ignoring a channel that closed in between (its child is exiting; nothing to deliver to). */
export function send (channel: ChildChannel, message: PrimaryToChild): void {
  try {
    channel.send(message, () => {})
  } catch {}
}
