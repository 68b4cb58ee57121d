import type { ChildProcess } from 'node:child_process'
import type { Worker } from 'node:cluster'
import type { MessagePort } from 'node:worker_threads'

/** What can ride along a message over process IPC: a socket or server handle (fork's hand-off). */
export type SendHandle = Parameters<ChildProcess['send']>[1]

/**
 * One end of a message channel, whatever carries it: the IPC channel to a child process (a
 * ChildProcess or a cluster Worker), to the parent (`process`), or a worker_threads MessagePort.
 */
export interface Channel {
  /**
   * Sends a message; false when the channel is closed (the message is dropped). Throws only when the
   * message cannot be serialized. `onSent` runs once it left, or with the error that stopped it.
   */
  send (message: unknown, handle?: SendHandle, onSent?: (err: Error | null) => void): boolean
  isConnected (): boolean
  onMessage (listener: (message: unknown, handle?: unknown) => void): void
  /** Runs once the channel closed: the other side is gone, nothing pending will be answered. */
  onClose (listener: () => void): void
}

type IpcTarget = ChildProcess | Worker | NodeJS.Process
const noop = (): void => {}

/** The IPC channel of a child process, a cluster worker, or (in a child) the one to its parent. */
export function ipcChannel (target: IpcTarget): Channel {
  const connected = (): boolean => 'isConnected' in target ? target.isConnected() : target.connected === true
  return {
    send (message, handle, onSent) {
      if (!connected() || target.send === undefined) return false
      // a callback keeps a channel that closes in between from raising an 'error' event
      ;(target.send as (m: unknown, h: unknown, o: object, cb: (err: Error | null) => void) => boolean)(message, handle, {}, onSent ?? noop)
      return true
    },
    isConnected: connected,
    onMessage (listener) { (target as NodeJS.EventEmitter).on('message', listener) },
    onClose (listener) { (target as NodeJS.EventEmitter).once('disconnect', listener) },
  }
}

/** A worker_threads MessagePort (the pool's channel between a worker thread and the primary). */
export function portChannel (port: MessagePort): Channel {
  let open = true
  port.once('close', () => { open = false })
  return {
    send (message, _handle, onSent) {
      if (!open) return false
      port.postMessage(message)
      onSent?.(null)
      return true
    },
    isConnected: () => open,
    onMessage (listener) { port.on('message', listener) },
    onClose (listener) { port.once('close', listener) },
  }
}
