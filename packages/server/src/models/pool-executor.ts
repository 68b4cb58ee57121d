import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import {
  describeError,
  errors,
  remoteError,
  type ConnectionContext,
  type Framing,
  type HandlerDefinition,
  type HandlerExecutor,
  type HttpResponse,
  type Logger,
  type MemorySharedStore,
  type Reply,
} from '@echoplex/core'
import { portChannel } from '../ipc/channel.js'
import { StallDetector } from '../ipc/supervision.js'
import { Peer } from '../ipc/peer.js'
import {
  SLOT_CANCELLED,
  SLOT_FREE,
  SLOT_STARTED,
  bytesFromWire,
  bytesToWire,
  isFaultMessage,
  isSharedPortMessage,
  type PoolHook,
  type PoolResult,
  type PoolTask,
  type PoolWorkerData,
  type WorkerToPrimary,
} from './pool-protocol.js'

export interface PoolExecutorOptions {
  handler: HandlerDefinition
  handlerPath: string
  /** Worker threads: minThreads = maxThreads = workers. */
  workers: number
  /** Most tasks waiting in piscina's queue; beyond that they wait in the executor's own FIFO. */
  maxQueue: number
  /** The primary's store: ctx.shared in every worker is answered from it. */
  store: MemorySharedStore
  logger: Logger
  /**
   * A task seen running for this long is stuck (like a cluster worker that misses its heartbeat): its
   * thread is stopped and replaced, and its connection fails. 0 disables.
   */
  heartbeatMs?: number
  /** The pool can no longer serve (no thread left, and piscina no longer starts new ones). */
  onFatal?: (err: Error) => void
  /** Handler code of connection `conn` threw in a thread where nothing awaited it: close that connection. */
  onFault?: (conn: string, error: string, stack?: string) => void
}

interface Task {
  hook: PoolHook
  ctx: ConnectionContext
  message: unknown
  phase: 'waiting' | 'submitted' | 'done'
  slot: number
  token: number
  signal: TaskSignal | undefined
  /** When the watchdog first saw it running (0: not yet). */
  seenRunningAt: number
  stuck: boolean
  settled: Promise<PoolResult>
  resolve: (result: PoolResult) => void
  reject: (err: unknown) => void
}

const noop = (): void => {}

/**
 * The least piscina accepts as a task's signal (an emitter of 'abort', see its AbortSignalAny): an
 * AbortController per task cost more than the rest of the executor's bookkeeping for small messages.
 */
class TaskSignal {
  private listener: (() => void) | undefined
  once (_event: 'abort', listener: () => void): void { this.listener = listener }
  off (_event: 'abort', _listener: () => void): void { this.listener = undefined }
  removeListener (_event: 'abort', _listener: () => void): void { this.listener = undefined }
  abort (): void {
    const listener = this.listener
    this.listener = undefined
    listener?.()
  }
}

/**
 * A HandlerExecutor whose hooks run on a piscina worker-thread pool. The connection runtime still runs
 * one hook or message at a time per connection, so replies keep their order, while different
 * connections' tasks run in parallel on the pool's threads.
 *
 * Backpressure: at most `workers + maxQueue` tasks are given to piscina at once (one running per thread,
 * the rest in its queue); further tasks wait here, in a FIFO, and are submitted as tasks finish. The
 * connection owning a waiting task is busy meanwhile, so its own queue fills and the runtime stops
 * reading from its socket: memory stays bounded, whatever the clients send.
 */
export class PoolExecutor implements HandlerExecutor {
  readonly framing: Framing
  readonly name: string
  /** The pool new tasks go to (a rolling restart swaps it). */
  pool: Piscina
  readonly workers: number
  readonly maxQueue: number
  /** Tasks of closed connections dropped before they started. */
  cancelled = 0
  /** Worker threads that ended while the pool was running (process.exit, a fatal error) and were replaced. */
  threadExits = 0
  /** Tasks stopped by the watchdog (ran past heartbeatMs). */
  stuckKilled = 0
  private readonly handler: HandlerDefinition
  private readonly handlerPath: string
  private readonly logger: Logger
  private readonly capacity: number
  private readonly flags: Int32Array
  private readonly freeSlots: number[]
  private nextToken = 0
  private readonly fifo: (Task | undefined)[] = []
  private fifoHead = 0
  private waitingCount = 0
  private submitted = 0
  /** Tasks given to piscina and not settled (running or in its queue). */
  private readonly inFlight = new Set<Task>()
  private readonly watchdog: NodeJS.Timeout | undefined
  /** The watchdog's own lateness: worker threads stop with the process, so a stall is no one's fault. */
  private stall: StallDetector | undefined
  /** Each connection's task in flight (the runtime gives at most one at a time, plus its close). */
  private readonly current = new WeakMap<ConnectionContext, Task>()
  private stopped = false
  private destroyed: Promise<void> | undefined
  private restarting = false
  /** Pools replaced by a rolling restart, finishing the tasks they were given. */
  private readonly retiring = new Set<Piscina>()

  constructor (private readonly options: PoolExecutorOptions) {
    this.handler = options.handler
    this.handlerPath = options.handlerPath
    this.framing = options.handler.framing
    this.name = options.handler.name
    this.logger = options.logger
    this.workers = Math.max(1, Math.floor(options.workers))
    this.maxQueue = Math.max(1, Math.floor(options.maxQueue))
    this.capacity = this.workers + this.maxQueue
    const flags = new SharedArrayBuffer(4 * this.capacity)
    this.flags = new Int32Array(flags)
    this.freeSlots = Array.from({ length: this.capacity }, (_, i) => this.capacity - 1 - i)
    this.pool = this.createPool()
    const heartbeatMs = options.heartbeatMs ?? 0
    if (heartbeatMs > 0) {
      const periodMs = Math.max(25, heartbeatMs / 2)
      this.stall = new StallDetector(periodMs)
      this.watchdog = setInterval(() => this.checkStuck(heartbeatMs), periodMs)
      this.watchdog.unref()
    }
  }

  private createPool (): Piscina {
    const pool = new Piscina({
      filename: fileURLToPath(new URL('./pool-worker.js', import.meta.url)),
      minThreads: this.workers,
      maxThreads: this.workers,
      // never reached: the executor keeps piscina's queue at maxQueue itself, and holds the rest
      maxQueue: Infinity,
      concurrentTasksPerWorker: 1,
      // an idle thread waits with Atomics.waitAsync, not Atomics.wait: its event loop keeps running, so
      // timers a handler left behind fire (and what they throw reaches its connection) between tasks
      atomics: 'async',
      idleTimeout: Infinity,
      workerData: { flags: this.flags.buffer as SharedArrayBuffer } satisfies PoolWorkerData,
    })
    pool.on('message', (message: unknown) => this.onWorkerMessage(message))
    // an uncaught error in a thread that had no task: piscina replaces the thread; log it only
    pool.on('error', (err: unknown) => { this.logger.error({ err: describeError(err) }, 'pool worker thread failed') })
    // a pool being retired by a rolling restart loses its threads on purpose
    pool.on('workerDestroy', () => { if (!this.stopped && pool === this.pool) setImmediate(() => this.checkThreads()) })
    return pool
  }

  /**
   * Rolling restart (SIGHUP): a fresh pool is warmed, new tasks go to it, and the old one closes once
   * the tasks already given to it have finished — no task is dropped and connections stay open.
   */
  async restart (): Promise<number> {
    if (this.stopped || this.restarting) return 0
    this.restarting = true
    try {
      const fresh = this.createPool()
      try {
        await this.warm(fresh)
      } catch (err) {
        await fresh.destroy()
        throw err
      }
      const old = this.pool
      this.retiring.add(old)
      this.pool = fresh
      await old.close()
      this.retiring.delete(old)
      return this.workers
    } finally {
      this.restarting = false
    }
  }

  /** Loads the handler on every thread: fails fast if it does not load there, and warms the pool. */
  async warm (pool = this.pool): Promise<void> {
    await Promise.all(Array.from({ length: this.workers }, async () => {
      const task: PoolTask = { hook: 'load', path: this.handlerPath, ctx: undefined as never, slot: -1, token: 0 }
      try {
        await pool.run(task)
      } catch (err) {
        const why = describeError(err).replace(`handler ${this.handlerPath} failed to load: `, '')
        throw errors.HANDLER_LOAD(this.handlerPath, `${why} (in a pool worker thread)`)
      }
    }))
  }

  connect (ctx: ConnectionContext): void | Promise<void> {
    if (this.handler.onConnect === undefined) return
    return this.submit('connect', ctx, undefined).then(() => {})
  }

  message (message: unknown, ctx: ConnectionContext): Promise<Reply | HttpResponse> {
    return this.submit('message', ctx, message) as Promise<Reply | HttpResponse>
  }

  close (ctx: ConnectionContext): void | Promise<void> {
    if (this.handler.onClose === undefined) return
    // a message that had already started runs to its end first: onClose sees the state it left
    const running = this.current.get(ctx)
    const after = running === undefined ? Promise.resolve() : running.settled.then(noop, noop)
    return after.then(async () => { await this.submit('close', ctx, undefined) })
  }

  cancel (ctx: ConnectionContext): void {
    const task = this.current.get(ctx)
    if (task === undefined) return
    if (task.phase === 'waiting') {
      this.waitingCount--
      this.drop(task, 'executor FIFO')
    } else if (task.phase === 'submitted') {
      // only a task that has not started: the worker swaps the same token when it starts one
      if (Atomics.compareExchange(this.flags, task.slot, task.token, SLOT_CANCELLED) !== task.token) return
      this.cancelled++
      this.logger.debug({ conn: ctx.id, hook: task.hook, where: 'piscina queue' }, 'cancelled a task of a closed connection')
      // takes it out of piscina's queue (the promise rejects with an AbortError, settling the slot)
      task.signal!.abort()
    }
  }

  /** Tasks in the executor's FIFO (piscina's queue is full). */
  get waiting (): number { return this.waitingCount }
  /** Tasks given to piscina and not settled: running or in its queue. */
  get inPool (): number { return this.submitted }

  /** Rejects everything not finished and stops the threads. */
  async destroy (): Promise<void> {
    if (this.destroyed !== undefined) return await this.destroyed
    this.stopped = true
    clearInterval(this.watchdog)
    for (let i = this.fifoHead; i < this.fifo.length; i++) {
      const task = this.fifo[i]
      if (task !== undefined && task.phase === 'waiting') this.finish(task, errors.MODEL_FAILED('pool', 'stopped'))
    }
    this.fifo.length = 0
    this.fifoHead = 0
    this.waitingCount = 0
    this.destroyed = Promise.all([this.pool, ...this.retiring].map(async (pool) => await pool.destroy())).then(() => {})
    await this.destroyed
  }

  private submit (hook: PoolHook, ctx: ConnectionContext, message: unknown): Promise<unknown> {
    if (this.stopped) return Promise.reject(errors.MODEL_FAILED('pool', 'stopped'))
    let resolve!: (result: PoolResult) => void
    let reject!: (err: unknown) => void
    const settled = new Promise<PoolResult>((res, rej) => { resolve = res; reject = rej })
    const task: Task = { hook, ctx, message, phase: 'waiting', slot: -1, token: 0, signal: undefined, seenRunningAt: 0, stuck: false, settled, resolve, reject }
    this.current.set(ctx, task)
    if (this.waitingCount === 0 && this.submitted < this.capacity) {
      this.dispatch(task)
    } else {
      this.fifo.push(task)
      this.waitingCount++
    }
    return settled.then((result) => this.apply(task, result))
  }

  private dispatch (task: Task): void {
    const { ctx } = task
    const transfer = new Set<ArrayBuffer>()
    const payload: PoolTask = {
      hook: task.hook,
      path: this.handlerPath,
      // the state as it is now: the connection's previous task has finished and put its copy back
      ctx: { id: ctx.id, remoteAddress: ctx.remoteAddress, remotePort: ctx.remotePort, pid: ctx.pid, model: ctx.model, state: ctx.state },
      message: task.hook === 'message' ? bytesToWire(task.message, transfer) : undefined,
      slot: this.freeSlots.pop()!,
      token: this.newToken(),
    }
    task.message = undefined
    task.slot = payload.slot
    task.token = payload.token
    task.phase = 'submitted'
    task.signal = new TaskSignal()
    Atomics.store(this.flags, task.slot, task.token)
    this.submitted++
    this.inFlight.add(task)
    let run: Promise<PoolResult>
    try {
      run = this.pool.run(payload, { signal: task.signal, transferList: [...transfer] }) as Promise<PoolResult>
    } catch (err) {
      run = Promise.reject(err)
    }
    run.then((result) => this.release(task, undefined, result), (err: unknown) => this.release(task, err, undefined))
  }

  private release (task: Task, err: unknown, result: PoolResult | undefined): void {
    this.submitted--
    this.inFlight.delete(task)
    if (task.stuck) err = new Error(`still running after the ${this.options.heartbeatMs} ms heartbeat; its thread was replaced`)
    Atomics.store(this.flags, task.slot, SLOT_FREE)
    this.freeSlots.push(task.slot)
    this.finish(task, err, result)
    this.pumpFifo()
  }

  private finish (task: Task, err: unknown, result?: PoolResult): void {
    task.phase = 'done'
    if (this.current.get(task.ctx) === task) this.current.delete(task.ctx)
    if (err !== undefined) task.reject(err)
    else task.resolve(result!)
  }

  private drop (task: Task, where: string): void {
    this.cancelled++
    this.logger.debug({ conn: task.ctx.id, hook: task.hook, where }, 'cancelled a task of a closed connection')
    this.finish(task, new Error('cancelled: the connection closed before the task started'))
  }

  private pumpFifo (): void {
    while (!this.stopped && this.submitted < this.capacity && this.fifoHead < this.fifo.length) {
      const task = this.fifo[this.fifoHead]
      this.fifo[this.fifoHead++] = undefined
      if (task === undefined || task.phase !== 'waiting') continue // cancelled while it waited
      this.waitingCount--
      this.dispatch(task)
    }
    if (this.fifoHead === this.fifo.length) { this.fifo.length = 0; this.fifoHead = 0 }
    else if (this.fifoHead > 1024 && this.fifoHead * 2 > this.fifo.length) { this.fifo.splice(0, this.fifoHead); this.fifoHead = 0 }
  }

  /** Replays what the handler did on the real ctx, in order, then hands the runtime the reply. */
  private apply (task: Task, result: PoolResult): unknown {
    if (result.skipped === true) throw new Error('cancelled: the connection closed before the task started')
    const { ctx } = task
    if (result.state !== undefined) ctx.state = result.state
    for (const action of result.actions ?? []) {
      if (action.type === 'send') ctx.send(action.data)
      else if (action.type === 'broadcast') ctx.broadcast(action.data)
      else ctx.close()
    }
    if (result.error !== undefined) throw remoteError(result.error, result.errorStack)
    return bytesFromWire(result.reply)
  }

  private newToken (): number {
    // positive 31-bit tokens, never SLOT_FREE/STARTED/CANCELLED
    this.nextToken = this.nextToken >= 0x7fffffff ? 1 : this.nextToken + 1
    return this.nextToken
  }

  /** A worker's private port for ctx.shared: answered here, from the primary's store. */
  private onWorkerMessage (message: unknown): void {
    if (isFaultMessage(message)) { this.options.onFault?.(message.conn, message.error, message.stack); return }
    if (!isSharedPortMessage(message)) return
    const { store } = this.options
    new Peer<WorkerToPrimary, never>(portChannel(message.port), { failure: errors.SHARED_FAILED })
      .answer('shared', (request) => store.apply(request.op))
    // the port must not keep the process alive once the pool is gone
    message.port.unref()
  }

  /** A task the watchdog saw running two checks apart, heartbeatMs or more, is stopped with its thread. */
  private checkStuck (heartbeatMs: number): void {
    const now = Date.now()
    if (this.stall?.tick(now) === true) {
      // the whole process (its threads too) was stopped: tasks seen running before are seen afresh
      for (const task of this.inFlight) task.seenRunningAt = 0
      return
    }
    for (const task of this.inFlight) {
      if (task.stuck || Atomics.load(this.flags, task.slot) !== SLOT_STARTED) continue
      if (task.seenRunningAt === 0) { task.seenRunningAt = now; continue }
      if (now - task.seenRunningAt < heartbeatMs) continue
      task.stuck = true
      this.stuckKilled++
      this.logger.warn({ conn: task.ctx.id, hook: task.hook, runningMs: now - task.seenRunningAt }, 'task ran past the heartbeat; stopping its thread')
      // piscina stops the thread running an aborted task and starts another
      task.signal!.abort()
    }
  }

  private checkThreads (): void {
    if (this.stopped) return
    const threads = this.pool.threads.length
    this.threadExits++
    if (threads < this.workers) this.logger.warn({ threads, workers: this.workers }, 'pool running with fewer threads than asked')
    if (threads === 0) this.options.onFatal?.(errors.MODEL_FAILED('pool', 'no worker thread is left and new ones do not start'))
  }
}
