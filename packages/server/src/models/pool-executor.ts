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
import { Peer } from '../ipc/peer.js'
import { decodeResults, encodeTasks, splitBatches } from './pool-batch.js'
import {
  LOAD_FAILED,
  SLOT_CANCELLED,
  SLOT_FREE,
  SLOT_STARTED,
  isEmptyState,
  type LoadTask,
  type PoolHook,
  type PoolResult,
  type PoolWorkerData,
  type ResultBatch,
  type WorkerEvent,
  type WorkerToPrimary,
} from './pool-protocol.js'

export interface PoolExecutorOptions {
  handler: HandlerDefinition
  handlerPath: string
  /** Worker threads: piscina's minThreads = maxThreads. */
  workers: number
  /** Most tasks given to the pool beyond one running per thread; the rest wait in the executor's FIFO. */
  maxQueue: number
  /** The primary's store: ctx.shared in every worker is answered from it. */
  store: MemorySharedStore
  logger: Logger
  /**
   * A task seen running for this long is stuck (like a cluster worker that misses its heartbeat): its
   * thread is stopped and replaced, and its connection fails. 0 disables.
   */
  heartbeatMs?: number
  /** The pool can no longer serve (a replacement thread cannot load the handler). */
  onFatal?: (err: Error) => void
}

/** One piscina task: a batch of tasks, and the signal that stops its thread (heartbeat only). */
interface BatchRun {
  pool: Piscina
  signal: BatchSignal | undefined
  /** piscina's task has not settled: the batch still holds its thread. */
  running: boolean
}

/** One hook of one connection, from submit to result. */
interface Task {
  hook: PoolHook
  ctx: ConnectionContext
  /** Kept until the task is done, so a task whose thread died before starting it can be sent again (undefined once its bytes were transferred). */
  message: unknown
  /** waiting: in the executor's FIFO; sent: given to the pool (maybe still in the outbox); done: settled. */
  phase: 'waiting' | 'sent' | 'done'
  slot: number
  token: number
  batch: BatchRun | undefined
  /** The thread that ran it, when its batch returned without its result (an async handler): 0 until then. */
  lateOn: number
  /** When the watchdog first saw it running (0: not yet). */
  seenRunningAt: number
  stuck: boolean
  /** Settles with the reply once the result was applied to the ctx (or with why it failed). */
  settled: Promise<unknown>
  resolve: (reply: unknown) => void
  reject: (err: unknown) => void
}

const noop = (): void => {}
const cancelledError = (): Error => new Error('cancelled: the connection closed before the task started')
const WORKER_FILE = fileURLToPath(new URL('./pool-worker.js', import.meta.url))

/**
 * The least piscina takes as a task's signal (an emitter of 'abort', its AbortSignalEventEmitter):
 * aborting a task that is running makes piscina stop its thread and start another.
 */
class BatchSignal {
  private listener: (() => void) | undefined
  once (_event: 'abort', listener: () => void): void { this.listener = listener }
  removeListener (_event: 'abort', _listener: () => void): void { this.listener = undefined }
  abort (): void {
    const listener = this.listener
    this.listener = undefined
    listener?.()
  }
}

/**
 * A HandlerExecutor whose hooks run on a piscina worker-thread pool. The connection runtime runs one
 * hook or message at a time per connection (its next one is given only once the last one's reply was
 * applied), so replies keep their order across batches, while different connections' tasks run in
 * parallel on the threads.
 *
 * Batching: tasks given in one turn of the primary's loop wait in an outbox; at the end of that turn
 * (setImmediate: after all the socket reads) they leave as a few piscina tasks — as many as there are
 * threads, so CPU-bound work still spreads, each within a size cap — packed flat (pool-batch.ts), and
 * each batch's results come back as its piscina task's return value. So with 16 busy connections a
 * thread hop costs one message for many tasks, not one each.
 *
 * Backpressure: at most `workers + maxQueue` tasks are given to the pool at once; further tasks wait
 * here, in a FIFO, and are given out as results come back. The connection owning a waiting task is
 * busy meanwhile, so its own queue fills and the runtime stops reading from its socket: memory stays
 * bounded, whatever the clients send.
 */
export class PoolExecutor implements HandlerExecutor {
  readonly framing: Framing
  readonly name: string
  readonly workers: number
  readonly maxQueue: number
  /** The pool new batches go to (a rolling restart swaps it). */
  pool: Piscina
  /** Tasks of closed connections dropped before they started. */
  cancelled = 0
  /** Worker threads that ended while the pool was running (process.exit, a fatal error, the watchdog) and were replaced. */
  threadExits = 0
  /** Tasks stopped by the watchdog (ran past heartbeatMs). */
  stuckKilled = 0
  /** Tasks whose result came back. */
  completed = 0
  /** Batches given to the pool, and the tasks they carried (both since start). */
  readonly batching = { batches: 0, tasks: 0 }
  private readonly handler: HandlerDefinition
  private readonly logger: Logger
  private readonly capacity: number
  private readonly flags: Int32Array
  private readonly freeSlots: number[]
  private nextToken = 0
  private readonly fifo: (Task | undefined)[] = []
  private fifoHead = 0
  private waitingCount = 0
  /** Tasks given to the pool and not acknowledged, by token. */
  private readonly tasks = new Map<number, Task>()
  private outbox: Task[] = []
  private flushQueued = false
  /** Threads that ended: late results from them will not come. */
  private readonly goneThreads = new Set<number>()
  /** Pools replaced by a rolling restart, finishing the tasks they were given. */
  private readonly retiring = new Set<Piscina>()
  private readonly retired: Array<() => void> = []
  private readonly watchdog: NodeJS.Timeout | undefined
  /** Each connection's task in flight (the runtime gives at most one at a time, plus its close). */
  private readonly current = new WeakMap<ConnectionContext, Task>()
  private stopped = false
  private broken = false
  private destroyed: Promise<void> | undefined
  private restarting = false
  private readonly flush = (): void => { this.flushQueued = false; this.sendOutbox() }

  constructor (private readonly options: PoolExecutorOptions) {
    this.handler = options.handler
    this.framing = options.handler.framing
    this.name = options.handler.name
    this.logger = options.logger
    this.workers = Math.max(1, Math.floor(options.workers))
    this.maxQueue = Math.max(1, Math.floor(options.maxQueue))
    this.capacity = this.workers + this.maxQueue
    this.flags = new Int32Array(new SharedArrayBuffer(4 * this.capacity))
    this.freeSlots = Array.from({ length: this.capacity }, (_, i) => this.capacity - 1 - i)
    this.pool = this.createPool()
    const heartbeatMs = options.heartbeatMs ?? 0
    if (heartbeatMs > 0) {
      this.watchdog = setInterval(() => this.checkStuck(heartbeatMs), Math.max(25, heartbeatMs / 2))
      this.watchdog.unref()
    }
  }

  private createPool (): Piscina {
    const pool = new Piscina({
      filename: WORKER_FILE,
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      // a thread takes one batch at a time (a batch with a signal could not share one anyway); the
      // async handlers of a batch that returned finish on the thread while it takes the next
      concurrentTasksPerWorker: 1,
      // the threads' loops stay free between batches: async handlers, timers and ctx.shared replies
      // run there (piscina's 'sync' Atomics.wait would pause them)
      atomics: 'disabled',
      // never reached: the executor holds the tasks beyond its capacity itself, and batches ≤ tasks
      maxQueue: this.capacity,
      workerData: { flags: this.flags.buffer as SharedArrayBuffer, handlerPath: this.options.handlerPath, model: 'pool' } satisfies PoolWorkerData,
    })
    pool.on('message', (event: WorkerEvent) => this.onWorkerEvent(event))
    // an uncaught error in a thread with no batch: piscina replaces the thread; log it only
    pool.on('error', (err: unknown) => { this.logger.error({ err: describeError(err) }, 'pool worker thread failed') })
    pool.on('workerDestroy', (worker: { threadId: number }) => this.onThreadGone(pool, worker.threadId))
    return pool
  }

  /** Loads the handler on the pool's threads: fails fast (EPX_HANDLER_LOAD) if it does not load there. */
  async warm (pool = this.pool): Promise<void> {
    await Promise.all(Array.from({ length: this.workers }, async () => {
      try {
        await pool.run({ type: 'load' } satisfies LoadTask)
      } catch (err) {
        const why = describeError(err).replace(LOAD_FAILED, '')
        throw errors.HANDLER_LOAD(this.options.handlerPath, `${why} (in a pool worker thread)`)
      }
    }))
  }

  /**
   * Rolling restart (SIGHUP): a fresh pool is warmed, new batches go to it, and the old one closes once
   * the tasks already given to it are done — no task is dropped and connections stay open.
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
      this.sendOutbox()
      const old = this.pool
      this.retiring.add(old)
      this.pool = fresh
      // the old pool closes once every task given to it was answered: its queued batches too (piscina's
      // close waits for running tasks only, and drops queued ones), and async handlers' late results
      await new Promise<void>((resolve) => { if (!this.holds(old)) resolve(); else this.retired.push(resolve) })
      await old.close()
      this.retiring.delete(old)
      return this.workers
    } finally {
      this.restarting = false
    }
  }

  connect (ctx: ConnectionContext): void | Promise<void> {
    if (this.handler.onConnect === undefined) return
    return this.submit('connect', ctx, undefined).then(noop)
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
    } else if (task.phase === 'sent') {
      // only a task that has not started: the thread swaps the same token when it starts one (it still
      // acknowledges the task, which frees its slot)
      if (Atomics.compareExchange(this.flags, task.slot, task.token, SLOT_CANCELLED) !== task.token) return
      this.drop(task, 'thread queue')
    }
  }

  /** Tasks in the executor's FIFO (the pool has all it may hold). */
  get waiting (): number { return this.waitingCount }
  /** Tasks given to the pool and not done: running, or queued there. */
  get inPool (): number { return this.tasks.size }
  /** Live threads of the pool taking new batches. */
  get liveThreads (): number { return this.pool.threads.length }

  /** Rejects everything not finished and stops the threads. */
  async destroy (): Promise<void> {
    if (this.destroyed !== undefined) return await this.destroyed
    this.stopped = true
    clearInterval(this.watchdog)
    const stopped = errors.MODEL_FAILED('pool', 'stopped')
    for (let i = this.fifoHead; i < this.fifo.length; i++) {
      const task = this.fifo[i]
      if (task !== undefined && task.phase === 'waiting') this.finish(task, stopped)
    }
    this.fifo.length = 0
    this.fifoHead = 0
    this.waitingCount = 0
    for (const task of this.tasks.values()) if (task.phase === 'sent') this.finish(task, stopped)
    this.tasks.clear()
    this.outbox = []
    for (const resolve of this.retired.splice(0)) resolve()
    this.destroyed = Promise.all([this.pool, ...this.retiring].map(async (pool) => await pool.destroy())).then(noop)
    await this.destroyed
  }

  private submit (hook: PoolHook, ctx: ConnectionContext, message: unknown): Promise<unknown> {
    if (this.stopped) return Promise.reject(errors.MODEL_FAILED('pool', 'stopped'))
    let resolve!: (reply: unknown) => void
    let reject!: (err: unknown) => void
    const settled = new Promise<unknown>((res, rej) => { resolve = res; reject = rej })
    const task: Task = { hook, ctx, message, phase: 'waiting', slot: -1, token: 0, batch: undefined, lateOn: 0, seenRunningAt: 0, stuck: false, settled, resolve, reject }
    this.current.set(ctx, task)
    if (this.waitingCount === 0 && this.tasks.size < this.capacity) {
      this.assign(task)
    } else {
      this.fifo.push(task)
      this.waitingCount++
    }
    return settled
  }

  /** Gives a task a slot; it leaves in a batch at the end of this turn of the loop. */
  private assign (task: Task): void {
    task.slot = this.freeSlots.pop()!
    task.token = this.newToken()
    task.phase = 'sent'
    task.batch = undefined
    task.lateOn = 0
    task.seenRunningAt = 0
    Atomics.store(this.flags, task.slot, task.token)
    this.tasks.set(task.token, task)
    this.outbox.push(task)
    if (this.flushQueued) return
    this.flushQueued = true
    setImmediate(this.flush)
  }

  /** The outbox leaves as up to `workers` batches (tasks cancelled meanwhile still go: the thread acknowledges them). */
  private sendOutbox (): void {
    if (this.outbox.length === 0 || this.stopped) return
    const tasks = this.outbox
    this.outbox = []
    const pool = this.pool
    for (const chunk of splitBatches(tasks, this.workers)) {
      const batch: BatchRun = { pool, signal: (this.options.heartbeatMs ?? 0) > 0 ? new BatchSignal() : undefined, running: true }
      for (const task of chunk) task.batch = batch
      let run: Promise<ResultBatch>
      try {
        const { batch: packed, transfer } = encodeTasks(chunk)
        run = pool.run(packed, { transferList: transfer, signal: batch.signal as AbortSignal | undefined }) as Promise<ResultBatch>
      } catch (err) {
        run = Promise.reject(err)
      }
      this.batching.batches++
      this.batching.tasks += chunk.length
      run.then((results) => this.onBatchDone(chunk, batch, results), (err: unknown) => this.onBatchFailed(chunk, batch, err))
    }
  }

  private onBatchDone (chunk: Task[], batch: BatchRun, results: ResultBatch): void {
    batch.running = false
    decodeResults(results, (token, result) => this.onResult(token, result))
    // the rest of the batch are async handlers still running on that thread: their results follow
    for (const task of chunk) {
      if (task.batch !== batch || !this.tasks.has(task.token)) continue
      task.lateOn = results.threadId
      if (this.goneThreads.has(results.threadId)) this.lost(task, 'its worker thread ended')
    }
    this.afterResults()
  }

  /**
   * A batch's thread ended (process.exit in a handler, a fatal error, the watchdog), or the batch could
   * not be sent. Its tasks that never started are sent again (nothing was lost); those that had started
   * fail their connections only.
   */
  private onBatchFailed (chunk: Task[], batch: BatchRun, err: unknown): void {
    batch.running = false
    const why = describeError(err)
    const loadFailed = why.includes(LOAD_FAILED)
    if (loadFailed && !this.stopped && !this.broken) {
      this.broken = true
      this.options.onFatal?.(errors.MODEL_FAILED('pool', `a worker thread could not load the handler: ${why.slice(why.indexOf(LOAD_FAILED) + LOAD_FAILED.length)}`))
    }
    for (const task of chunk) {
      if (task.batch !== batch || !this.tasks.has(task.token)) continue
      const neverStarted = Atomics.compareExchange(this.flags, task.slot, task.token, SLOT_CANCELLED) === task.token
      this.release(task)
      if (task.phase !== 'sent') continue
      if (neverStarted && !loadFailed && !this.stopped && (task.hook !== 'message' || task.message !== undefined)) { this.assign(task); continue }
      this.finish(task, task.stuck
        ? new Error(`still running after the ${this.options.heartbeatMs} ms heartbeat; its thread was replaced`)
        : new Error(loadFailed ? why : `its worker thread ended (${why})`))
    }
    this.afterResults()
  }

  private onWorkerEvent (event: WorkerEvent): void {
    if (event.type === 'results') {
      decodeResults(event, (token, result) => this.onResult(token, result))
      this.afterResults()
      return
    }
    if (event.type === 'shared-port') {
      // ctx.shared of that thread: answered here, from the primary's one store
      new Peer<WorkerToPrimary, never>(portChannel(event.port), { failure: errors.SHARED_FAILED })
        .answer('shared', (request) => this.options.store.apply(request.op))
      // the port must not keep the process alive once the pool is gone
      event.port.unref()
    }
  }

  /** A thread ended: async handlers still running there will not answer. */
  private onThreadGone (pool: Piscina, threadId: number): void {
    if (this.stopped) return
    this.goneThreads.add(threadId)
    if (pool === this.pool && !this.retiring.has(pool)) {
      this.threadExits++
      this.logger.warn({ threadId, threads: pool.threads.length }, 'pool worker thread ended; piscina replaces it')
    }
    for (const task of this.tasks.values()) if (task.lateOn === threadId) this.lost(task, 'its worker thread ended')
    this.afterResults()
  }

  private lost (task: Task, why: string): void {
    this.release(task)
    if (task.phase === 'sent') this.finish(task, new Error(why))
  }

  private onResult (token: number, result: PoolResult): void {
    const task = this.tasks.get(token)
    if (task === undefined) return
    this.release(task)
    this.completed++
    if (task.phase === 'sent') this.finish(task, undefined, result)
  }

  /** Results were handed over: waiting tasks take the freed slots; a retiring pool may be done. */
  private afterResults (): void {
    this.pumpFifo()
    if (this.retired.length > 0 && ![...this.retiring].some((pool) => this.holds(pool))) {
      for (const resolve of this.retired.splice(0)) resolve()
    }
  }

  /** Whether tasks given to this pool are still to be answered. */
  private holds (pool: Piscina): boolean {
    for (const task of this.tasks.values()) if (task.batch?.pool === pool) return true
    return false
  }

  /** The task's slot goes back to the free list: its thread acknowledged it, or is gone. */
  private release (task: Task): void {
    this.tasks.delete(task.token)
    Atomics.store(this.flags, task.slot, SLOT_FREE)
    this.freeSlots.push(task.slot)
  }

  private finish (task: Task, err: unknown, result?: PoolResult): void {
    task.phase = 'done'
    task.message = undefined
    if (this.current.get(task.ctx) === task) this.current.delete(task.ctx)
    if (err !== undefined) { task.reject(err); return }
    let reply: unknown
    try {
      reply = this.apply(task, result!)
    } catch (failed) {
      task.reject(failed)
      return
    }
    task.resolve(reply)
  }

  private drop (task: Task, where: string): void {
    this.cancelled++
    this.logger.debug({ conn: task.ctx.id, hook: task.hook, where }, 'cancelled a task of a closed connection')
    this.finish(task, cancelledError())
  }

  private pumpFifo (): void {
    while (!this.stopped && this.tasks.size < this.capacity && this.fifoHead < this.fifo.length) {
      const task = this.fifo[this.fifoHead]
      this.fifo[this.fifoHead++] = undefined
      if (task === undefined || task.phase !== 'waiting') continue // cancelled while it waited
      this.waitingCount--
      this.assign(task)
    }
    if (this.fifoHead === this.fifo.length) { this.fifo.length = 0; this.fifoHead = 0 } else if (this.fifoHead > 1024 && this.fifoHead * 2 > this.fifo.length) { this.fifo.splice(0, this.fifoHead); this.fifoHead = 0 }
  }

  /** Replays what the handler did on the real ctx, in order, then hands the runtime the reply. */
  private apply (task: Task, result: PoolResult): unknown {
    if (result.skipped === true) throw cancelledError()
    const { ctx } = task
    // no state: the handler left an empty object
    if ('state' in result) ctx.state = result.state as Record<string, unknown>
    else if (!isEmptyState(ctx.state)) ctx.state = {}
    for (const action of result.actions ?? []) {
      if (action.type === 'send') ctx.send(action.data)
      else if (action.type === 'broadcast') ctx.broadcast(action.data)
      else ctx.close()
    }
    if (result.error !== undefined) throw remoteError(result.error, result.errorStack)
    return result.reply
  }

  private newToken (): number {
    // positive 31-bit tokens, never SLOT_FREE/STARTED/CANCELLED
    this.nextToken = this.nextToken >= 0x7fffffff ? 1 : this.nextToken + 1
    return this.nextToken
  }

  /**
   * A task the watchdog saw running two checks apart, heartbeatMs or more, is stuck. One whose batch
   * still holds its thread (a handler that does not return) is stopped with its thread: its batch's
   * signal aborts the piscina task, which ends the thread, and piscina starts another. An async one
   * whose batch returned does not hold the thread: only its connection fails.
   */
  private checkStuck (heartbeatMs: number): void {
    const now = Date.now()
    for (const task of this.tasks.values()) {
      if (task.stuck || task.phase !== 'sent' || Atomics.load(this.flags, task.slot) !== SLOT_STARTED) continue
      if (task.seenRunningAt === 0) { task.seenRunningAt = now; continue }
      if (now - task.seenRunningAt < heartbeatMs) continue
      task.stuck = true
      this.stuckKilled++
      const holdsThread = task.batch?.running === true
      this.logger.warn({ conn: task.ctx.id, hook: task.hook, runningMs: now - task.seenRunningAt },
        holdsThread ? 'task ran past the heartbeat; stopping its thread' : 'task ran past the heartbeat; failing its connection (its thread is not held)')
      if (holdsThread) task.batch!.signal?.abort()
      else this.lost(task, `still running after the ${heartbeatMs} ms heartbeat`)
    }
  }
}
