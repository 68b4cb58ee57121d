import { describeError } from '@echoplex/core'
import type { Channel, SendHandle } from './channel.js'

/** Every message on an echoplex channel is tagged by `type`. */
export interface Message { type: string }

/** The answer to a request: matched to it by `id`. */
export type Reply =
  | { type: 'reply', id: number, ok: true, value: unknown }
  | { type: 'reply', id: number, ok: false, error: string }

export interface PeerOptions {
  /** The error a failed request rejects with: a coded one from the catalogue (errors.SHARED_FAILED…). */
  failure: (why: string) => Error
  /** Why requests fail once the channel is closed ("primary is gone"). */
  closedWhy?: string
}

export interface RequestOptions {
  /** Rejects with `failure` when no reply came in this long; none by default. */
  timeoutMs?: number
}

/** A request as the caller writes it: its `id` is the peer's to assign. */
type Unnumbered<M> = M extends unknown ? Omit<M, 'id'> : never
type Of<M extends Message, T extends string> = Extract<M, { type: T }>

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout | undefined
}

/**
 * One end of a channel (process IPC or a MessagePort), as Node's cluster `sendHelper`/`internal`:
 * routes incoming messages by `type` to their listeners, answers requests of the types it has a
 * responder for, and sends requests of its own — `request()` resolves with the reply of the same id,
 * and rejects with the coded `failure` when the other side answers with an error, when no reply comes
 * within the timeout, or when the channel closes first.
 */
export class Peer<In extends Message = Message, Out extends Message = Message> {
  private nextId = 0
  private readonly pending = new Map<number, Pending>()
  private readonly listeners = new Map<string, Array<(message: never, handle?: unknown) => void>>()
  private readonly responders = new Map<string, (message: never) => unknown>()

  constructor (readonly channel: Channel, private readonly options: PeerOptions) {
    channel.onMessage((message, handle) => this.receive(message, handle))
    channel.onClose(() => this.failPending(options.closedWhy ?? 'the channel closed'))
  }

  isConnected (): boolean { return this.channel.isConnected() }

  /** Handles every incoming message of `type` that is not a request this peer answers. */
  on<T extends In['type']> (type: T, listener: (message: Of<In, T>, handle?: unknown) => void): this {
    const list = this.listeners.get(type) ?? []
    list.push(listener as (message: never, handle?: unknown) => void)
    this.listeners.set(type, list)
    return this
  }

  /** Answers requests of `type`: the reply carries what `responder` returns (or resolves to), or what it threw. */
  answer<T extends In['type']> (type: T, responder: (message: Of<In, T> & { id: number }) => unknown): this {
    this.responders.set(type, responder as (message: never) => unknown)
    return this
  }

  /** Sends one message; false when it could not go (channel closed, not serializable). */
  send (message: Out | Reply, handle?: SendHandle, onSent?: (err: Error | null) => void): boolean {
    try {
      return this.channel.send(message, handle, onSent)
    } catch {
      return false
    }
  }

  async request<R = unknown> (message: Unnumbered<Out>, { timeoutMs }: RequestOptions = {}): Promise<R> {
    const { failure, closedWhy = 'the channel closed' } = this.options
    if (!this.channel.isConnected()) throw failure(closedWhy)
    const id = ++this.nextId
    return await new Promise<R>((resolve, reject) => {
      const timer = timeoutMs === undefined
        ? undefined
        : setTimeout(() => { this.pending.delete(id); reject(failure(`no reply within ${timeoutMs} ms`)) }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer })
      let sent: boolean
      try {
        sent = this.channel.send({ ...message, id })
      } catch (err) {
        this.settle(id)?.reject(failure(describeError(err)))
        return
      }
      if (!sent) this.settle(id)?.reject(failure(closedWhy))
    })
  }

  /** Fails every request still waiting for its reply (the other side is gone). */
  failPending (why: string): void {
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(this.options.failure(why))
  }

  private settle (id: number): Pending | undefined {
    const waiter = this.pending.get(id)
    if (waiter === undefined) return undefined
    this.pending.delete(id)
    if (waiter.timer !== undefined) clearTimeout(waiter.timer)
    return waiter
  }

  private receive (raw: unknown, handle?: unknown): void {
    if (raw === null || typeof raw !== 'object') return
    const message = raw as Message
    if (message.type === 'reply') {
      const reply = message as Reply
      const waiter = this.settle(reply.id)
      if (reply.ok) waiter?.resolve(reply.value)
      else waiter?.reject(this.options.failure(reply.error))
      return
    }
    const responder = this.responders.get(message.type)
    if (responder !== undefined) { this.respond(responder, message as Message & { id: number }); return }
    for (const listener of this.listeners.get(message.type) ?? []) listener(message as never, handle)
  }

  private respond (responder: (message: never) => unknown, message: Message & { id: number }): void {
    const reply = (outcome: Reply): void => { if (this.channel.isConnected()) this.send(outcome) }
    let value: unknown
    try {
      value = responder(message as never)
    } catch (err) {
      reply({ type: 'reply', id: message.id, ok: false, error: describeError(err) })
      return
    }
    if (value instanceof Promise) {
      value.then((v: unknown) => reply({ type: 'reply', id: message.id, ok: true, value: v }),
        (err: unknown) => reply({ type: 'reply', id: message.id, ok: false, error: describeError(err) }))
    } else {
      reply({ type: 'reply', id: message.id, ok: true, value })
    }
  }
}
