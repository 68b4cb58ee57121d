import type { Socket } from 'node:net'
import type { ConnectionContext } from '../handler.js'
import type { Codec, Decoder } from '../framing/codec.js'
import type { ServerLimits } from '../limits.js'
import type { Logger } from '../log.js'
import type { HandlerExecutor } from './executor.js'
import type { Hub, HubMember } from './hub.js'
import type { ConnectionCounters } from './stats.js'
import { codecFor, toBuffer } from '../framing/index.js'
import { EchoplexError, describeError, errors } from '../errors.js'
import { errorStack } from '../error-stack.js'
import { runOwnedBy, type FaultOwner } from './fault-owner.js'
import type { BudgetHolder, PartialBudget } from './partial-budget.js'

export interface ConnectionOptions {
  socket: Socket
  executor: HandlerExecutor
  hub: Hub
  limits: ServerLimits
  model: string
  logger: Logger
  counters: ConnectionCounters
  /** The client as a PROXY-protocol header named it; default: the socket's own peer. */
  peer?: { address: string, port: number | undefined }
  /** Called once, after the socket closed and `onClose` ran. */
  onClosed?: (conn: Connection) => void
  /** The process's budget for bytes held in incomplete messages (see PartialBudget). */
  budget?: PartialBudget
}

/** After our FIN is flushed, how long a peer that never closes keeps its socket. */
const LINGER_MS = 1000
/** During a graceful stop, a connection that received nothing for this long is done. */
const DRAIN_QUIET_MS = 100
/**
 * …unless it has received nothing at all and is younger than this: a client accepted just before or
 * during a stop (its linger, a rolling restart's old worker) may not have sent its first message yet on
 * a loaded machine, and closing it then answers nothing (a rolling restart under churn closed 1–6
 * connections unanswered in 7 of 9 stressed runs; 1 of 9 with this).
 */
const DRAIN_FIRST_MESSAGE_MS = 1000

let sequence = 0

const connectHook = (executor: HandlerExecutor, ctx: ConnectionContext): unknown => executor.connect(ctx)
const messageHook = (executor: HandlerExecutor, message: unknown, ctx: ConnectionContext): unknown => executor.message(message, ctx)
const closeHook = (executor: HandlerExecutor, ctx: ConnectionContext): unknown => executor.close(ctx)

/**
 * Where a connection is in its life; it only moves forward:
 * - `open`: serving messages.
 * - `draining`: a graceful stop; messages already received are answered, and the connection ends
 *   once the client has gone quiet.
 * - `closing`: no more messages are handled (ctx.close(), a protocol close, bad input, a failed
 *   handler); it ends as soon as the running hook or message is done. Input is read and discarded.
 * - `ended`: our FIN is sent; nothing more is written. Input is still read and discarded.
 * - `closed`: the socket closed and `onClose` ran (or is running).
 * The pipeline (one hook or message at a time: `busy`) and the socket's own read end (the client's
 * FIN) and write backpressure are not phases: they can hold in any phase.
 */
export type ConnectionPhase = 'open' | 'draining' | 'closing' | 'ended' | 'closed'
const ORDER: Record<ConnectionPhase, number> = { open: 0, draining: 1, closing: 2, ended: 3, closed: 4 }

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function'

/**
 * One client connection, served by any model: decodes the stream, runs the handler one message at a
 * time (so replies leave in arrival order, sync or async), writes replies with backpressure, and keeps
 * every failure — bad bytes, a throwing handler, a reset — inside this connection.
 */
export class Connection implements HubMember, FaultOwner, BudgetHolder {
  readonly id: string
  readonly ctx: ConnectionContext
  private readonly socket: Socket
  private readonly codec: Codec<unknown, unknown>
  private readonly decoder: Decoder<unknown>
  private readonly queue: unknown[] = []
  private queueHead = 0
  private phase: ConnectionPhase = 'open'
  /** A hook or message is running (async); everything else waits behind it. */
  private busy = false
  /** When data last came (until the first, when the connection opened). */
  private lastDataAt = Date.now()
  /** The client has sent something (a drain waits a while longer for a first message: DRAIN_FIRST_MESSAGE_MS). */
  private heardFrom = false
  /** A quiet drain waits for the loop to poll before it ends the connection (confirmQuiet). */
  private quietCheck = false
  private frameTimer: NodeJS.Timeout | undefined
  private drainTimer: NodeJS.Timeout | undefined
  private readonly closedPromise: Promise<void>
  private resolveClosed!: () => void

  constructor (private readonly options: ConnectionOptions) {
    const { socket, executor, hub, limits, counters } = options
    this.socket = socket
    this.id = `${process.pid}-${++sequence}`
    this.codec = codecFor(executor.framing)
    this.decoder = this.codec.decoder(limits)
    this.closedPromise = new Promise((resolve) => { this.resolveClosed = resolve })
    const push = (data: string | Uint8Array): void => this.pushOut(toBuffer(data))
    this.ctx = {
      id: this.id,
      remoteAddress: options.peer?.address ?? socket.remoteAddress ?? 'unix',
      remotePort: options.peer !== undefined ? options.peer.port : socket.remotePort,
      pid: process.pid,
      model: options.model,
      send: push,
      broadcast: (data) => hub.broadcast(this.id, toBuffer(data)),
      close: () => this.requestClose(),
      shared: hub.shared,
      state: {},
    }
    counters.connectionsActive++
    counters.connectionsTotal++
    socket.setNoDelay(true)
    if (limits.idleTimeoutMs > 0) this.armIdleTimer(limits.idleTimeoutMs)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('end', () => this.onEnd())
    socket.on('drain', () => this.updateReadFlow())
    socket.on('finish', () => setTimeout(() => socket.destroy(), LINGER_MS).unref())
    socket.on('error', (err: NodeJS.ErrnoException) => {
      counters.socketErrors++
      this.options.logger.debug({ conn: this.id, code: err.code }, 'socket error')
    })
    socket.on('close', () => { void this.onClose() })
    hub.join(this)
    this.run(() => runOwnedBy(this, connectHook, executor, this.ctx))
  }

  /** Moves to a later phase; never back. */
  private enter (phase: ConnectionPhase): void {
    if (ORDER[phase] > ORDER[this.phase]) this.phase = phase
  }

  /** At `phase` or past it. */
  private reached (phase: ConnectionPhase): boolean { return ORDER[this.phase] >= ORDER[phase] }

  /** Resolves once the connection is closed and its `onClose` hook has run. */
  get done (): Promise<void> { return this.closedPromise }

  /** A broadcast from another connection (the hub's delivery): sent unless the handler says this one does not get them now. */
  push (data: Buffer): void {
    if (this.options.executor.receivesBroadcast?.(this.ctx) === false) return
    this.pushOut(data)
  }

  /** Bytes pushed from outside a reply: `ctx.send` and broadcasts from other connections. */
  private pushOut (data: Buffer): void {
    if (this.reached('ended') || this.socket.destroyed) return
    if (this.socket.writableLength > this.options.limits.maxWriteBufferBytes) {
      // a client that never reads must not grow our memory: drop it rather than buffer without bound
      this.options.counters.slowConsumers++
      this.options.logger.info({ conn: this.id }, 'slow consumer: write buffer over limit, closing')
      this.socket.destroy()
      return
    }
    const bytes = this.codec.encodePush(data)
    if (bytes.length > 0) this.write(bytes)
  }

  /** The hub's relay drained (see Hub.congested): go on with queued messages, and reading. */
  resumeBroadcasts (): void {
    if (this.phase === 'closed') return
    this.pump()
  }

  /** Graceful stop: finish what was received, then close once the client has gone quiet. */
  shutdown (): void {
    if (this.phase !== 'open') return
    this.enter('draining')
    this.drainTimer = setInterval(() => this.maybeFinish(), DRAIN_QUIET_MS / 2)
    this.drainTimer.unref()
    this.maybeFinish()
  }

  /** Where this connection stands, for logs when it overstays a drain. */
  describe (): Record<string, unknown> {
    return {
      id: this.id,
      phase: this.phase,
      busy: this.busy,
      queued: this.queue.length - this.queueHead,
      readEnded: this.socket.readableEnded,
      buffered: this.decoder.buffered,
      writable: this.socket.writableLength,
      sinceDataMs: Date.now() - this.lastDataAt,
    }
  }

  /** The server's partial-message budget ran out and this connection held the most: close it. */
  overBudget (total: number, budget: number): void {
    this.options.logger.warn({ conn: this.id, held: this.decoder.buffered, total, budget }, 'partial-message budget exceeded; closing the connection holding the most')
    this.protocolError(errors.PARTIAL_BUDGET(this.decoder.buffered, total, budget))
  }

  /** Handler code of this connection threw where nothing awaited it (see catchHandlerFaults): fail this connection. */
  fault (err: unknown): void { this.fail(err) }

  /** Ends at once, dropping anything unsent (grace period over). */
  destroy (): void { this.socket.destroy() }

  private onData (chunk: Buffer): void {
    if (this.reached('closing')) return // discarding (a lingering close)
    this.lastDataAt = Date.now()
    this.heardFrom = true
    this.options.counters.bytesIn += chunk.length
    let messages: unknown[]
    try {
      messages = this.decoder.push(chunk)
    } catch (err) {
      this.protocolError(err)
      return
    }
    // a chunk that completed a message and started the next gives the new one a full --frame-timeout
    this.armFrameTimer(messages.length > 0)
    this.options.budget?.set(this, this.decoder.buffered)
    if (this.reached('closing')) return // closed for the budget
    if (messages.length === 0) return
    if (this.queueHead === this.queue.length) { this.queue.length = 0; this.queueHead = 0 }
    for (const m of messages) this.queue.push(m)
    this.pump()
  }

  private onEnd (): void {
    this.maybeFinish()
  }

  /**
   * Idle: the client said nothing and is owed nothing for `ms`. A message still being handled (an async
   * handler, a pool thread) is not idleness. Judged after this turn's reads and replies: when the
   * process itself was stalled (SIGSTOP, a long GC), timers run before the bytes and replies that
   * arrived meanwhile are handled, and those count. Node's socket timeout calls its listener once:
   * a verdict of "not idle" arms it again.
   */
  private armIdleTimer (ms: number): void {
    const { socket } = this
    socket.setTimeout(ms, () => {
      const read = socket.bytesRead
      const written = socket.bytesWritten
      setImmediate(() => {
        if (socket.destroyed) return
        if (socket.bytesRead !== read || socket.bytesWritten !== written || this.owesReplies()) { this.armIdleTimer(ms); return }
        this.options.counters.timeouts++
        this.options.logger.debug({ conn: this.id }, 'idle timeout')
        socket.destroy()
      })
    })
  }

  /** A hook or message is running, or messages wait for their turn: the client is owed replies. */
  private owesReplies (): boolean {
    return this.busy || this.queueHead < this.queue.length
  }

  /** Runs queued messages in order; a sync handler's replies are written without a microtask hop. */
  private pump (): void {
    const { executor, counters } = this.options
    while (!this.busy && !this.reached('closing') && this.queueHead < this.queue.length && this.options.hub.congested !== true) {
      const message = this.queue[this.queueHead]
      this.queue[this.queueHead++] = undefined
      counters.messages++
      let result: unknown
      try {
        // handler code runs as this connection's: what it throws later, from a timer, closes only this one
        result = runOwnedBy(this, messageHook, executor, message, this.ctx)
      } catch (err) {
        this.fail(err)
        return
      }
      if (isThenable(result)) {
        this.busy = true
        result.then((reply) => {
          this.busy = false
          if (this.phase === 'closed') return
          this.reply(reply, message)
          this.pump()
        }, (err: unknown) => {
          this.busy = false
          this.fail(err)
        })
        break
      }
      this.reply(result, message)
    }
    this.updateReadFlow()
    this.maybeFinish()
  }

  /** Runs a hook through the same in-order pipeline as messages. */
  private run (hook: () => unknown): void {
    let result: unknown
    try {
      result = hook()
    } catch (err) {
      this.fail(err)
      return
    }
    if (!isThenable(result)) return
    this.busy = true
    result.then(() => { this.busy = false; this.pump() }, (err: unknown) => { this.busy = false; this.fail(err) })
  }

  private reply (reply: unknown, message: unknown): void {
    if (this.phase === 'closed') return
    // while draining, the reply to the last message received is the last one: say so where the framing can
    const last = this.phase === 'draining' && this.queueHead >= this.queue.length && this.decoder.buffered === 0
    const encoded = this.codec.encode(reply, message, last)
    if (encoded.bytes !== null && encoded.bytes.length > 0) this.write(encoded.bytes)
    if (encoded.close) this.requestClose()
  }

  private write (bytes: Buffer): void {
    if (this.reached('ended') || this.socket.destroyed) return
    this.options.counters.bytesOut += bytes.length
    if (!this.socket.write(bytes)) this.updateReadFlow()
  }

  /** Reads only while replies drain and the handler keeps up: the server's memory stays bounded. */
  private updateReadFlow (): void {
    if (this.socket.destroyed) return
    const queued = this.queue.length - this.queueHead
    // writableNeedDrain: a write returned false and 'drain' has not come yet
    const stop = this.socket.writableNeedDrain || queued >= this.options.limits.maxQueuedMessages || this.options.hub.congested === true
    if (stop && !this.socket.isPaused()) this.socket.pause()
    else if (!stop && this.socket.isPaused() && !this.reached('closing')) this.socket.resume()
  }

  private requestClose (): void {
    this.enter('closing')
    this.dropQueue()
    if (!this.busy) this.end()
  }

  /** `confirmed`: the connection was found quiet before, and the loop has polled its socket since. */
  private maybeFinish (confirmed = false): void {
    if (this.phase === 'closed') return
    if (this.reached('closing')) { if (!this.busy) this.end(); return }
    if (this.busy || this.queueHead < this.queue.length) return
    if (this.socket.readableEnded) { this.end(); return }
    if (!this.quiet()) return
    if (confirmed) this.end()
    else this.confirmQuiet()
  }

  /** Draining, and nothing read for DRAIN_QUIET_MS (no partial message either; nothing yet: see DRAIN_FIRST_MESSAGE_MS). */
  private quiet (): boolean {
    return this.phase === 'draining' && this.decoder.buffered === 0 &&
      Date.now() - this.lastDataAt >= (this.heardFrom ? DRAIN_QUIET_MS : DRAIN_FIRST_MESSAGE_MS)
  }

  /**
   * Quiet as far as this process has read: ends once the loop has polled the socket since. After a
   * stall (a loaded machine, a child just booted) timers run before I/O is read, and bytes the client
   * sent long ago would be found unread only after our FIN, and discarded: a fork child handed a
   * waiting connection as the server stopped answered none of its messages.
   */
  private confirmQuiet (): void {
    if (this.quietCheck) return
    this.quietCheck = true
    setImmediate(() => {
      this.quietCheck = false
      this.maybeFinish(true)
    })
  }

  private end (): void {
    if (this.reached('ended')) return
    this.enter('ended')
    this.clearFrameTimer()
    // keep reading (and discarding) so unread input does not turn our FIN into a RST that eats the reply
    if (this.socket.isPaused()) this.socket.resume()
    this.socket.end()
  }

  private protocolError (err: unknown): void {
    this.options.counters.protocolErrors++
    this.options.logger.info({ conn: this.id, err: describeError(err) }, 'bad input, closing connection')
    const bytes = this.codec.errorReply(err instanceof EchoplexError ? err : undefined, 'decode')
    this.enter('closing')
    this.dropQueue()
    if (bytes !== null && !this.busy) this.write(bytes)
    this.end()
  }

  private fail (err: unknown): void {
    if (this.phase === 'closed') return
    this.options.counters.handlerErrors++
    this.options.logger.error({ conn: this.id, handler: this.options.executor.name, err: describeError(err), stack: errorStack(err) }, 'handler failed; closing its connection')
    const bytes = this.codec.errorReply(errors.HANDLER_FAILED(describeError(err)), 'handler')
    this.enter('closing')
    this.dropQueue()
    if (bytes !== null) this.write(bytes)
    this.end()
  }

  private dropQueue (): void {
    this.queue.length = 0
    this.queueHead = 0
  }

  /**
   * The frame timer runs while a message is incomplete, from the chunk that started it: `completed`
   * (this chunk finished a message) re-arms it for the message now buffered.
   */
  private armFrameTimer (completed: boolean): void {
    const ms = this.options.limits.frameTimeoutMs
    if (ms <= 0) return
    if (this.decoder.buffered === 0 || completed) this.clearFrameTimer()
    if (this.decoder.buffered === 0) return
    if (this.frameTimer !== undefined) return
    const timer = setTimeout(() => {
      // judged after this turn's reads (see the idle timeout): bytes that completed the message while
      // the process was stalled re-arm or clear the timer first
      setImmediate(() => {
        if (this.frameTimer !== timer) return
        this.frameTimer = undefined
        this.options.counters.timeouts++
        this.protocolError(errors.FRAME_TIMEOUT(ms))
      })
    }, ms)
    timer.unref()
    this.frameTimer = timer
  }

  private clearFrameTimer (): void {
    if (this.frameTimer !== undefined) clearTimeout(this.frameTimer)
    this.frameTimer = undefined
  }

  private async onClose (): Promise<void> {
    if (this.phase === 'closed') return
    this.enter('closed')
    this.clearFrameTimer()
    this.options.budget?.release(this)
    if (this.drainTimer !== undefined) clearInterval(this.drainTimer)
    this.dropQueue()
    const { hub, executor, counters, logger } = this.options
    hub.leave(this.id)
    counters.connectionsActive--
    executor.cancel?.(this.ctx)
    try {
      await runOwnedBy(this, closeHook, executor, this.ctx)
    } catch (err) {
      counters.handlerErrors++
      logger.error({ conn: this.id, err: describeError(err) }, 'onClose failed')
    }
    this.options.onClosed?.(this)
    this.resolveClosed()
  }
}
