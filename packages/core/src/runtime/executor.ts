import type { ConnectionContext, Framing, HandlerDefinition, Reply } from '../handler.js'
import type { HttpResponse } from '../framing/http.js'

/**
 * Runs a handler's hooks for the connection runtime. The runtime owns the socket; the executor decides
 * where the handler code runs: here (`LocalExecutor`), or on a worker thread (the pool model's).
 * Results may be sync: the runtime keeps a fast path for handlers that return a value directly.
 */
export interface HandlerExecutor {
  readonly framing: Framing
  readonly name: string
  connect (ctx: ConnectionContext): void | Promise<void>
  message (message: unknown, ctx: ConnectionContext): Reply | HttpResponse | Promise<Reply | HttpResponse>
  close (ctx: ConnectionContext): void | Promise<void>
  /** Drops work queued for a closed connection, where the executor queues any. */
  cancel? (ctx: ConnectionContext): void
  /** The handler's `receivesBroadcast`, where it has one (run where the socket is). */
  receivesBroadcast? (ctx: ConnectionContext): boolean
}

export class LocalExecutor implements HandlerExecutor {
  readonly framing: Framing
  readonly name: string
  constructor (private readonly handler: HandlerDefinition) {
    this.framing = handler.framing
    this.name = handler.name
  }

  connect (ctx: ConnectionContext): void | Promise<void> { return this.handler.onConnect?.(ctx) }
  message (message: unknown, ctx: ConnectionContext): Reply | HttpResponse | Promise<Reply | HttpResponse> {
    return this.handler.onMessage(message as never, ctx) as Reply | HttpResponse | Promise<Reply | HttpResponse>
  }

  close (ctx: ConnectionContext): void | Promise<void> { return this.handler.onClose?.(ctx) }
  receivesBroadcast (ctx: ConnectionContext): boolean { return this.handler.receivesBroadcast?.(ctx) ?? true }
}
