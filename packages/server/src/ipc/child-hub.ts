import { LocalHub, errors, sharedStoreClient, type SharedOp } from '@echoplex/core'
import type { ChildToPrimary, PrimaryToChild } from './protocol.js'

/** Sends to the primary; a closed channel means the primary is gone and this process is exiting. */
export function sendToPrimary (message: ChildToPrimary): void {
  if (process.connected && process.send !== undefined) {
    try { process.send(message, undefined, {}, () => {}) } catch {}
  }
}

/**
 * A child process's hub: delivers to its own connections and forwards to the primary, which relays to
 * the other children; shared-store operations travel to the primary and back.
 */
export class ChildHub extends LocalHub {
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()

  constructor () {
    super(sharedStoreClient(async (op: SharedOp) => await this.request(op)))
  }

  override broadcast (fromId: string, data: Buffer): void {
    this.deliver(fromId, data)
    sendToPrimary({ t: 'broadcast', from: fromId, data })
  }

  /** Feeds a message from the primary; returns false for messages that are not the hub's. */
  handle (message: PrimaryToChild): boolean {
    switch (message.t) {
      case 'broadcast':
        this.deliver(message.from, Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength))
        return true
      case 'shared-result': {
        const waiter = this.pending.get(message.id)
        this.pending.delete(message.id)
        if (message.ok) waiter?.resolve(message.value)
        else waiter?.reject(errors.SHARED_FAILED(message.error))
        return true
      }
      default:
        return false
    }
  }

  /** The primary went away: nothing pending will ever be answered. */
  failPending (): void {
    for (const waiter of this.pending.values()) waiter.reject(errors.SHARED_FAILED('primary is gone'))
    this.pending.clear()
  }

  private async request (op: SharedOp): Promise<unknown> {
    if (!process.connected) throw errors.SHARED_FAILED('primary is gone')
    const id = ++this.nextId
    return await new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      sendToPrimary({ t: 'shared', id, op })
    })
  }
}
