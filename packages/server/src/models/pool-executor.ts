import {
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
import { PoolThread, type Task } from './pool-thread.js'
import { StallDetector } from '../ipc/supervision.js'
import {
  SLOT_CANCELLED,
  SLOT_FREE,
  SLOT_STARTED,
  isEmptyState,
  type PoolHook,
  type PoolResult,
} from './pool-protocol.js'

export interface PoolExecutorOptions {
  handler: HandlerDefinition
  handlerPath: string
  /** Worker threads. */
  workers: number
  /** Most tasks given to the threads beyond one running per thread; the rest wait in the executor's FIFO. */
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
  /** Handler code of connection `conn` threw in a thread where nothing awaited it: close that connection. */
  onFault?: (conn: string, error: string, stack?: string) => void
}

const noop = (): void => {}

/**
 * What one more thread hop costs, in µs of the primary's and the machine's time: a batch message out,
 * a results message back (a postMessage of a batch measured 1.2–1.7 µs here, each end), and waking
 * an idle thread, a context switch each way. 25 µs is a round figure above that: an echo's tasks
 * (1–4 µs measured) share a batch, and a task that costs more than a hop is worth its own thread.
 * Only an idle thread (nothing given to it and not done) is charged it: one still at work reads its
 * next batch when it is done with this one, with no wake-up. A task goes to an idle thread only when
 * the work queued on the others costs more than that: cheap handlers keep one thread busy, batch
 * after batch (charging every thread without a batch this turn spread HTTP's tasks 2:1 over two
 * threads, and woke both for most turns: slower in 8 of 8 interleaved rounds, by 0.2–33%, 17.5k
 * against 20.3k req/s by median), expensive ones (the `work` handler) spread over every thread.
 */
export const HOP_COST_US = 25
/** A task's cost before any was measured: assumed expensive, so tasks spread until measured. */
export const UNMEASURED_TASK_US = 1000
/** Batches whose per-task cost the estimate looks at. */
export const COST_SAMPLES = 9

/**
 * What one task costs its thread (µs): the median of the recent batches' per-task averages. A batch
 * whose thread was preempted, or stopped for a collection, reads many times what its tasks cost: on 2
 * cores shared with a load generator, a running mean read 73 µs for HTTP tasks of 1 µs (the stats'
 * `taskCostUs`), and tasks that look expensive are spread over every thread. A median ignores such
 * batches; a handler that really became slower moves it within the next 5 batches.
 */
export class TaskCostEstimate {
  private readonly samples: number[] = []
  private next = 0
  private cached: number | undefined
  /** Where the median is found: sorted in place, so reading it allocates nothing (it is read per task, and changes per batch). */
  private readonly scratch: Float64Array

  constructor (private readonly initialUs: number, private readonly window = COST_SAMPLES) {
    this.scratch = new Float64Array(window)
  }

  /** A batch of results reported `tasks` tasks run in `us` µs. */
  add (tasks: number, us: number): void {
    if (tasks <= 0) return
    if (this.samples.length < this.window) this.samples.push(us / tasks)
    else this.samples[this.next] = us / tasks
    this.next = (this.next + 1) % this.window
    this.cached = undefined
  }

  get us (): number {
    if (this.samples.length === 0) return this.initialUs
    if (this.cached === undefined) {
      const n = this.samples.length
      const sorted = this.scratch
      // an insertion sort of a handful of numbers
      for (let i = 0; i < n; i++) {
        const v = this.samples[i]!
        let j = i
        for (; j > 0 && sorted[j - 1]! > v; j--) sorted[j] = sorted[j - 1]!
        sorted[j] = v
      }
      const mid = n >> 1
      this.cached = n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
    }
    return this.cached
  }
}

/** What choosing a thread looks at: its tasks not done, and whether a batch of it leaves this turn. */
export interface ThreadLoad { readonly load: number, readonly batchForming: boolean }

/**
 * The index of the thread that would finish one more task soonest: its queued tasks at `taskCostUs`
 * each, plus `hopUs` to wake it where it is idle (nothing given, no batch forming; ties: the first).
 */
export function soonestThread (threads: readonly ThreadLoad[], taskCostUs: number, hopUs = HOP_COST_US): number {
  let best = 0
  let soonest = Infinity
  for (let i = 0; i < threads.length; i++) {
    const thread = threads[i]!
    const ends = thread.load * taskCostUs + (thread.batchForming || thread.load > 0 ? 0 : hopUs)
    if (ends < soonest) { soonest = ends; best = i }
  }
  return best
}
const cancelledError = (): Error => new Error('cancelled: the connection closed before the task started')

/**
 * A HandlerExecutor whose hooks run on worker threads (pool-thread.ts, pool-worker.ts). The connection
 * runtime still runs one hook or message at a time per connection, so replies keep their order, while
 * different connections' tasks run in parallel on the threads.
 *
 * Batching: a task goes to a thread's outbox; every outbox is sent once per turn of the primary's
 * loop (setImmediate: after all the socket reads of that turn), as one message per thread within a
 * size cap, and results come back the same way. So with 16 busy connections a thread hop costs one
 * message for many tasks, not one each. Which thread: the one whose queued work ends soonest,
 * counting a hop's cost against a thread with no batch leaving yet (see HOP_COST_US) — threads report
 * what their tasks cost, so an echo's tasks share one batch, and slow tasks spread over every thread.
 *
 * Backpressure: at most `workers + maxQueue` tasks are given to threads at once; further tasks wait
 * here, in a FIFO, and are given out as results come back. The connection owning a waiting task is
 * busy meanwhile, so its own queue fills and the runtime stops reading from its socket: memory stays
 * bounded, whatever the clients send.
 */
export class PoolExecutor implements HandlerExecutor {
  readonly framing: Framing
  readonly name: string
  readonly workers: number
  readonly maxQueue: number
  /** Tasks of closed connections dropped before they started. */
  cancelled = 0
  /** Worker threads that ended while the pool was running (process.exit, a fatal error, the watchdog) and were replaced. */
  threadExits = 0
  /** Tasks stopped by the watchdog (ran past heartbeatMs). */
  stuckKilled = 0
  /** Tasks whose result came back. */
  completed = 0
  /** The threads new tasks go to (a rolling restart swaps them). */
  private threads: PoolThread[]
  /** Threads replaced by a rolling restart, finishing the tasks they were given. */
  private readonly retiring = new Set<PoolThread>()
  private readonly handler: HandlerDefinition
  private readonly logger: Logger
  private readonly capacity: number
  private readonly flags: Int32Array
  private readonly freeSlots: number[]
  private nextToken = 0
  private readonly fifo: (Task | undefined)[] = []
  private fifoHead = 0
  private waitingCount = 0
  /** Tasks given to threads and not acknowledged. */
  private sent = 0
  private flushQueued = false
  /** What one task costs its thread (µs), from what the threads report. */
  private readonly costEstimate = new TaskCostEstimate(UNMEASURED_TASK_US)
  private readonly watchdog: NodeJS.Timeout | undefined
  /** The watchdog's own lateness: worker threads stop with the process, so a stall is no one's fault. */
  private stall: StallDetector | undefined
  /** Each connection's task in flight (the runtime gives at most one at a time, plus its close). */
  private readonly current = new WeakMap<ConnectionContext, Task>()
  private stopped = false
  private broken = false
  private destroyed: Promise<void> | undefined
  private restarting = false
  private readonly flushAll = (): void => {
    this.flushQueued = false
    for (const thread of this.threads) thread.flush()
    for (const thread of this.retiring) thread.flush()
  }

  /** The handler's broadcast filter runs here, in the primary, where the connection's socket and state are. */
  receivesBroadcast (ctx: ConnectionContext): boolean { return this.handler.receivesBroadcast?.(ctx) ?? true }

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
    this.threads = Array.from({ length: this.workers }, () => this.spawnThread())
    const heartbeatMs = options.heartbeatMs ?? 0
    if (heartbeatMs > 0) {
      const periodMs = Math.max(25, heartbeatMs / 2)
      this.stall = new StallDetector(periodMs)
      this.watchdog = setInterval(() => this.checkStuck(heartbeatMs), periodMs)
      this.watchdog.unref()
    }
  }

  /** Resolves once the handler loaded on every thread: fails fast (EPX_HANDLER_LOAD) if it does not load there. */
  async warm (): Promise<void> {
    await Promise.all(this.threads.map(async (thread) => await thread.ready))
  }

  /**
   * Rolling restart (SIGHUP): fresh threads are warmed, new tasks go to them, and each old one ends
   * once the tasks already given to it are done — no task is dropped and connections stay open.
   */
  async restart (): Promise<number> {
    if (this.stopped || this.restarting) return 0
    this.restarting = true
    try {
      const fresh = Array.from({ length: this.workers }, () => this.spawnThread())
      try {
        await Promise.all(fresh.map(async (thread) => await thread.ready))
      } catch (err) {
        await Promise.all(fresh.map(async (thread) => await thread.terminate()))
        throw err
      }
      const old = this.threads
      this.threads = fresh
      for (const thread of old) {
        thread.flush()
        thread.retiring = true
        this.retiring.add(thread)
        if (thread.load === 0) void thread.terminate()
      }
      await Promise.all(old.map(async (thread) => await thread.gone))
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
    // a message that had already started runs to its end first: onClose sees the state it left
    const running = this.current.get(ctx)
    if (this.handler.onClose === undefined) {
      if (running === undefined) this.forget(ctx)
      else void running.settled.then(() => this.forget(ctx), () => this.forget(ctx))
      return
    }
    const after = running === undefined ? Promise.resolve() : running.settled.then(noop, noop)
    return after.then(async () => { await this.submit('close', ctx, undefined) }).finally(() => this.forget(ctx))
  }

  /** The connection is done: threads that cached its ConnInfo drop it. */
  private forget (ctx: ConnectionContext): void {
    if (this.stopped) return
    let queued = false
    for (const thread of [...this.threads, ...this.retiring]) {
      if (!thread.knows(ctx)) continue
      thread.forget(ctx)
      queued = true
    }
    if (queued) this.scheduleFlush()
  }

  private scheduleFlush (): void {
    if (this.flushQueued) return
    this.flushQueued = true
    setImmediate(this.flushAll)
  }

  cancel (ctx: ConnectionContext): void {
    const task = this.current.get(ctx)
    if (task === undefined) return
    if (task.phase === 'waiting') {
      this.waitingCount--
      this.drop(task, 'executor FIFO')
    } else if (task.phase === 'sent') {
      // only a task that has not started: the thread swaps the same token when it starts one (it
      // still acknowledges the task, which frees its slot)
      if (Atomics.compareExchange(this.flags, task.slot, task.token, SLOT_CANCELLED) !== task.token) return
      this.drop(task, 'thread queue')
    }
  }

  /** Tasks in the executor's FIFO (the threads have all they may hold). */
  get waiting (): number { return this.waitingCount }
  /** Tasks given to threads and not done: running, or queued there. */
  get inPool (): number { return this.sent }
  /** Live threads taking new tasks. */
  get liveThreads (): number { return this.threads.filter((thread) => !thread.exited).length }
  /** What a task costs its thread, as measured so far (µs). */
  get taskCost (): number { return this.costEstimate.us }
  /** Tasks sent to each live thread (a rolling restart starts new counts). */
  get tasksPerThread (): number[] { return this.threads.map((thread) => thread.sentTasks) }
  /** Batches sent to threads, and the tasks they carried (both since start). */
  get batching (): { batches: number, tasks: number } {
    let batches = 0
    let tasks = 0
    for (const thread of [...this.threads, ...this.retiring]) { batches += thread.batches; tasks += thread.sentTasks }
    return { batches: batches + this.pastBatches.batches, tasks: tasks + this.pastBatches.tasks }
  }

  private readonly pastBatches = { batches: 0, tasks: 0 }

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
    const threads = [...this.threads, ...this.retiring]
    for (const thread of threads) {
      for (const task of thread.tasks.values()) if (task.phase === 'sent') this.finish(task, stopped)
    }
    this.destroyed = Promise.all(threads.map(async (thread) => await thread.terminate())).then(noop)
    await this.destroyed
  }

  private spawnThread (): PoolThread {
    return new PoolThread({
      handlerPath: this.options.handlerPath,
      flags: this.flags.buffer as SharedArrayBuffer,
      store: this.options.store,
      logger: this.logger,
      onResult: (thread, token, result) => this.onResult(thread, token, result),
      onRan: (tasks, us) => { this.costEstimate.add(tasks, us) },
      onResultsDone: (thread) => this.onResultsDone(thread),
      onExit: (thread, code) => this.onThreadExit(thread, code),
      onFault: (conn, error, stack) => this.options.onFault?.(conn, error, stack),
    })
  }

  private submit (hook: PoolHook, ctx: ConnectionContext, message: unknown): Promise<unknown> {
    if (this.stopped) return Promise.reject(errors.MODEL_FAILED('pool', 'stopped'))
    let resolve!: (reply: unknown) => void
    let reject!: (err: unknown) => void
    const settled = new Promise<unknown>((res, rej) => { resolve = res; reject = rej })
    const task: Task = { hook, ctx, message, phase: 'waiting', slot: -1, token: 0, thread: undefined, seenRunningAt: 0, stuck: false, settled, resolve, reject }
    this.current.set(ctx, task)
    if (this.waitingCount === 0 && this.sent < this.capacity) {
      this.assign(task)
    } else {
      this.fifo.push(task)
      this.waitingCount++
    }
    return settled
  }

  /**
   * Gives a task to the thread that would finish it soonest, its queued tasks at their measured cost
   * plus a hop when no batch of it leaves this turn; it leaves with that thread's batch at the end of
   * this turn.
   */
  private assign (task: Task): void {
    const thread = this.threads[soonestThread(this.threads, this.costEstimate.us)]!
    task.slot = this.freeSlots.pop()!
    task.token = this.newToken()
    task.phase = 'sent'
    task.seenRunningAt = 0
    Atomics.store(this.flags, task.slot, task.token)
    this.sent++
    thread.give(task)
    this.scheduleFlush()
  }

  private onResult (thread: PoolThread, token: number, result: PoolResult): void {
    const task = thread.tasks.get(token)
    if (task === undefined) return
    thread.tasks.delete(token)
    this.release(task)
    this.completed++
    if (task.phase === 'sent') this.finish(task, undefined, result)
  }

  private onResultsDone (thread: PoolThread): void {
    if (thread.retiring && thread.load === 0) void thread.terminate()
    this.pumpFifo()
  }

  /** The task's slot goes back to the free list: the thread has acknowledged it, or is gone. */
  private release (task: Task): void {
    this.sent--
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
    while (!this.stopped && this.sent < this.capacity && this.fifoHead < this.fifo.length) {
      const task = this.fifo[this.fifoHead]
      this.fifo[this.fifoHead++] = undefined
      if (task === undefined || task.phase !== 'waiting') continue // cancelled while it waited
      this.waitingCount--
      this.assign(task)
    }
    if (this.fifoHead === this.fifo.length) { this.fifo.length = 0; this.fifoHead = 0 } else if (this.fifoHead > 1024 && this.fifoHead * 2 > this.fifo.length) { this.fifo.splice(0, this.fifoHead); this.fifoHead = 0 }
  }

  /**
   * A thread ended. Its tasks that never started go to another thread (nothing was lost); those that
   * had started fail their connections only. A thread that was not retiring is replaced.
   */
  private onThreadExit (thread: PoolThread, code: number): void {
    this.pastBatches.batches += thread.batches
    this.pastBatches.tasks += thread.sentTasks
    if (this.stopped) return
    const wasRetiring = this.retiring.delete(thread)
    const index = this.threads.indexOf(thread)
    if (!wasRetiring && index === -1) return // a fresh thread of a failed restart
    if (index !== -1) {
      this.threadExits++
      this.logger.warn({ code, tasks: thread.load }, 'pool worker thread ended; replacing it')
      if (!this.broken) this.threads[index] = this.replacement()
    }
    const heartbeat = this.options.heartbeatMs
    // results it had settled for other connections and not sent yet (a stuck task stopped it mid-batch)
    const recovered = thread.recover()
    for (const task of thread.tasks.values()) {
      const neverStarted = Atomics.compareExchange(this.flags, task.slot, task.token, SLOT_CANCELLED) === task.token
      this.release(task)
      if (task.phase !== 'sent') continue
      const result = recovered.get(task.token)
      if (result !== undefined) {
        this.completed++
        this.finish(task, undefined, result)
        continue
      }
      if (neverStarted && (task.hook !== 'message' || task.message !== undefined)) { this.assign(task); continue }
      this.finish(task, task.stuck
        ? new Error(`still running after the ${heartbeat} ms heartbeat; its thread was replaced`)
        : new Error(`its worker thread ended (exit code ${code})`))
    }
    thread.tasks.clear()
    this.pumpFifo()
  }

  private replacement (): PoolThread {
    const thread = this.spawnThread()
    thread.ready.catch((err: Error) => {
      if (this.stopped || this.broken) return
      this.broken = true
      this.options.onFatal?.(errors.MODEL_FAILED('pool', `a replacement worker thread could not load the handler: ${err.message}`))
    })
    return thread
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

  /** A task the watchdog saw running two checks apart, heartbeatMs or more, is stopped with its thread. */
  private checkStuck (heartbeatMs: number): void {
    const now = Date.now()
    if (this.stall?.tick(now) === true) {
      // the whole process (its threads too) was stopped: tasks seen running before are seen afresh
      for (const thread of [...this.threads, ...this.retiring]) for (const task of thread.tasks.values()) task.seenRunningAt = 0
      return
    }
    for (const thread of [...this.threads, ...this.retiring]) {
      for (const task of thread.tasks.values()) {
        if (task.stuck || task.phase !== 'sent' || Atomics.load(this.flags, task.slot) !== SLOT_STARTED) continue
        if (task.seenRunningAt === 0) { task.seenRunningAt = now; continue }
        if (now - task.seenRunningAt < heartbeatMs) continue
        task.stuck = true
        this.stuckKilled++
        this.logger.warn({ conn: task.ctx.id, hook: task.hook, runningMs: now - task.seenRunningAt }, 'task ran past the heartbeat; stopping its thread')
        void thread.terminate()
      }
    }
  }
}
