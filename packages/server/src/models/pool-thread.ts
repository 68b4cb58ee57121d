/**
 * One worker thread of the pool model, seen from the primary: it starts the thread, answers its
 * ctx.shared requests, and carries tasks to it in batches — tasks given to it during one turn of the
 * primary's loop leave together, in one message, with their bytes in one transferred buffer (the
 * layout is pool-protocol.ts's) — and unpacks the batches of results that come back.
 */
import { fileURLToPath } from 'node:url'
import { MessageChannel, Worker } from 'node:worker_threads'
import { describeError, errors, type ConnectionContext, type Logger, type MemorySharedStore } from '@echoplex/core'
import { portChannel } from '../ipc/channel.js'
import { Peer } from '../ipc/peer.js'
import {
  BATCH_MAX_BYTES,
  BATCH_MAX_TASKS,
  FORGET,
  HAS_ACTIONS,
  HAS_ERROR,
  HAS_INFO,
  HAS_STATE,
  HOOKS,
  MSG_BODY,
  MSG_BYTES,
  MSG_EXTRA,
  REPLY_BODY,
  REPLY_BYTES,
  REPLY_EXTRA,
  RESULT_INTS,
  R_FLAGS,
  R_HAS_STATE,
  R_LENGTH,
  R_START,
  R_TOKEN,
  SKIPPED,
  TASK_INTS,
  T_CONN,
  T_FLAGS,
  T_LENGTH,
  T_SLOT,
  T_START,
  T_TOKEN,
  bytesFromWire,
  bytesIn,
  isEmptyState,
  ownsBuffer,
  type Batch,
  type ConnInfo,
  type PoolAction,
  type PoolHook,
  type PoolResult,
  type PoolWorkerData,
  type WorkerMessage,
  type WorkerToPrimary,
} from './pool-protocol.js'
import { ResultJournal } from './pool-journal.js'

/** One hook of one connection, from submit to result. */
export interface Task {
  hook: PoolHook
  ctx: ConnectionContext
  /** Kept until the task is done, so a task whose thread died before starting it can go to another (undefined once given away). */
  message: unknown
  /** waiting: in the executor's FIFO; sent: given to a thread (maybe still in its outbox); done: settled. */
  phase: 'waiting' | 'sent' | 'done'
  slot: number
  token: number
  thread: PoolThread | undefined
  /** When the watchdog first saw it running (0: not yet). */
  seenRunningAt: number
  stuck: boolean
  /** Settles with the reply once the result was applied to the ctx (or with why it failed). */
  settled: Promise<unknown>
  resolve: (reply: unknown) => void
  reject: (err: unknown) => void
}

export interface PoolThreadOptions {
  handlerPath: string
  flags: SharedArrayBuffer
  store: MemorySharedStore
  logger: Logger
  /** A result came back for the task of `token` on this thread. */
  onResult: (thread: PoolThread, token: number, result: PoolResult) => void
  /** A batch of results said how many tasks the thread ran since the last one, and for how long (µs). */
  onRan: (tasks: number, us: number) => void
  /** After the results of one batch were handed over. */
  onResultsDone: (thread: PoolThread) => void
  onExit: (thread: PoolThread, code: number) => void
  /** Handler code of connection `conn` threw on this thread where nothing awaited it: close that connection. */
  onFault?: (conn: string, error: string, stack?: string) => void
}

const WORKER_FILE = fileURLToPath(new URL('./pool-worker.js', import.meta.url))

/** A number per connection, so a thread can cache its ConnInfo (ids are strings; numbers fit the header). */
const connKeys = new WeakMap<ConnectionContext, number>()
let nextConnKey = 0
function connKey (ctx: ConnectionContext): number {
  let key = connKeys.get(ctx)
  if (key === undefined) {
    nextConnKey = nextConnKey >= 0x7fffffff ? 1 : nextConnKey + 1
    key = nextConnKey
    connKeys.set(ctx, key)
  }
  return key
}

type Outgoing = Task | { forget: number }

export class PoolThread {
  readonly worker: Worker
  /** Tasks given to this thread and not acknowledged (sent, queued there, running), by token. */
  readonly tasks = new Map<number, Task>()
  /** Resolves once the handler loaded on the thread; rejects with EPX_HANDLER_LOAD if it did not. */
  readonly ready: Promise<void>
  /** Replaced by a rolling restart: ends once its tasks are done. */
  retiring = false
  exited = false
  /** Resolves once the thread has ended. */
  readonly gone: Promise<void>
  /** Batches and tasks sent, for stats. */
  batches = 0
  sentTasks = 0
  private outbox: Outgoing[] = []
  private outboxBytes = 0
  /** Connections whose ConnInfo this thread holds. */
  private readonly known = new WeakSet<ConnectionContext>()
  /** Copies of the results the thread holds to send (pool-journal.ts). */
  private readonly journal = new ResultJournal()

  constructor (private readonly options: PoolThreadOptions) {
    const { port1, port2 } = new MessageChannel()
    this.worker = new Worker(WORKER_FILE, {
      workerData: { flags: options.flags, handlerPath: options.handlerPath, pid: process.pid, model: 'pool', sharedPort: port2, journal: this.journal.memory } satisfies PoolWorkerData,
      transferList: [port2],
    })
    new Peer<WorkerToPrimary, never>(portChannel(port1), { failure: errors.SHARED_FAILED })
      .answer('shared', (request) => options.store.apply(request.op))
    // the port must not keep the process alive once the pool is gone
    port1.unref()
    this.ready = new Promise((resolve, reject) => {
      const onReady = (message: WorkerMessage): void => {
        if (message.type !== 'ready') return
        this.worker.off('message', onReady)
        if (message.error === undefined) resolve()
        else reject(errors.HANDLER_LOAD(options.handlerPath, `${message.error} (in a pool worker thread)`))
      }
      this.worker.on('message', onReady)
      this.worker.once('exit', (code) => reject(errors.HANDLER_LOAD(options.handlerPath, `its worker thread exited with code ${code} while loading it`)))
    })
    this.ready.catch(() => {})
    this.worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'results') this.receive(message)
      else if (message.type === 'fault') options.onFault?.(message.conn, message.error, message.stack)
    })
    // an uncaught error ends the thread ('exit' follows): say why
    this.worker.on('error', (err) => options.logger.error({ err: describeError(err) }, 'pool worker thread failed'))
    this.gone = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.exited = true
        options.onExit(this, code)
        resolve()
      })
    })
  }

  /** Tasks given to this thread and not done: how busy it is. */
  get load (): number { return this.tasks.size }

  /** Tasks wait in the outbox: one more rides along in the same message, at no extra hop. */
  get batchForming (): boolean { return this.outbox.length > 0 }

  /** Whether this thread holds the connection's ConnInfo (and must be told to forget it). */
  knows (ctx: ConnectionContext): boolean { return this.known.has(ctx) }

  /** Queues a task for this thread's next batch; true when the batch is full and was sent now. */
  give (task: Task): boolean {
    task.thread = this
    this.tasks.set(task.token, task)
    this.outbox.push(task)
    if (task.hook === 'message') {
      const bytes = bytesIn(task.message)
      if (bytes !== undefined && !ownsBuffer(bytes)) this.outboxBytes += bytes.byteLength
    }
    if (this.outbox.length >= BATCH_MAX_TASKS || this.outboxBytes >= BATCH_MAX_BYTES) {
      this.flush()
      return true
    }
    return false
  }

  /** The connection closed and its last task is done: the thread drops its ConnInfo (with the next batch). */
  forget (ctx: ConnectionContext): void {
    if (!this.known.has(ctx)) return
    this.known.delete(ctx)
    this.outbox.push({ forget: connKey(ctx) })
  }

  /** Sends what the outbox holds as one batch (tasks cancelled meanwhile still go: the thread acknowledges them). */
  flush (): void {
    const count = this.outbox.length
    if (count === 0 || this.exited) return
    const outbox = this.outbox
    const byteBase = count * TASK_INTS * 4
    const buffer = new ArrayBuffer(byteBase + this.outboxBytes)
    this.outbox = []
    this.outboxBytes = 0
    const head = new Int32Array(buffer, 0, count * TASK_INTS)
    const bytes = new Uint8Array(buffer)
    const extras: unknown[] = []
    const transfer: ArrayBuffer[] = [buffer]
    let at = byteBase
    let tasks = 0
    for (let i = 0, h = 0; i < count; i++, h += TASK_INTS) {
      const item = outbox[i]!
      if ('forget' in item) {
        head[h + T_FLAGS] = FORGET
        head[h + T_CONN] = item.forget
        continue
      }
      const task = item
      const { ctx } = task
      let flags = HOOKS.indexOf(task.hook)
      if (!this.known.has(ctx)) {
        this.known.add(ctx)
        flags |= HAS_INFO
        extras.push([ctx.id, ctx.remoteAddress, ctx.remotePort] satisfies ConnInfo)
      }
      // the state as it is now: the connection's previous task has finished and put its copy back
      if (!isEmptyState(ctx.state)) {
        flags |= HAS_STATE
        extras.push(ctx.state)
      }
      if (task.hook === 'message') {
        const message = task.message
        const data = bytesIn(message)
        if (data === undefined) {
          flags |= MSG_EXTRA
          extras.push(message)
        } else if (ownsBuffer(data)) {
          // the runtime is done with a message once it is given to the executor: large bytes go uncopied
          // (so the task cannot be sent again, should this thread die before starting it)
          flags |= MSG_EXTRA
          extras.push(message)
          if (!transfer.includes(data.buffer as ArrayBuffer)) transfer.push(data.buffer as ArrayBuffer)
          task.message = undefined
        } else {
          if (data === message) {
            flags |= MSG_BYTES
          } else {
            flags |= MSG_EXTRA | MSG_BODY
            extras.push({ ...(message as object), body: undefined })
          }
          bytes.set(data, at)
          head[h + T_START] = at
          head[h + T_LENGTH] = data.byteLength
          at += data.byteLength
        }
      }
      head[h + T_FLAGS] = flags
      head[h + T_SLOT] = task.slot
      head[h + T_TOKEN] = task.token
      head[h + T_CONN] = connKey(ctx)
      tasks++
    }
    const batch: Batch = { type: 'tasks', buffer, count, extras }
    try {
      this.worker.postMessage(batch, transfer)
    } catch (err) {
      // not expected (messages come from our decoders, states from a thread): fail the batch's tasks
      const why = `the task cannot cross to its worker thread: ${describeError(err)}`
      queueMicrotask(() => {
        for (const item of outbox) if (!('forget' in item)) this.options.onResult(this, item.token, { error: why })
        this.options.onResultsDone(this)
      })
    }
    this.batches++
    this.sentTasks += tasks
  }

  /** Unpacks a batch of results: bytes become Buffers over the batch's buffer (no copy). */
  private receive (batch: Batch): void {
    const { buffer, count, extras } = batch
    if (batch.ran !== undefined && batch.ran > 0) this.options.onRan(batch.ran, batch.ranUs ?? 0)
    const head = new Int32Array(buffer, 0, count * RESULT_INTS)
    let x = 0
    for (let h = 0; h < head.length; h += RESULT_INTS) {
      const flags = head[h + R_FLAGS]!
      const result: PoolResult = {}
      if ((flags & SKIPPED) !== 0) result.skipped = true
      if ((flags & HAS_ERROR) !== 0) {
        result.error = extras[x++] as string
        const stack = extras[x++] as string | null
        if (stack !== null) result.errorStack = stack
      }
      if ((flags & HAS_ACTIONS) !== 0) result.actions = extras[x++] as PoolAction[]
      if ((flags & R_HAS_STATE) !== 0) result.state = extras[x++]
      if ((flags & REPLY_BYTES) !== 0) {
        result.reply = Buffer.from(buffer, head[h + R_START]!, head[h + R_LENGTH]!)
      } else if ((flags & REPLY_EXTRA) !== 0) {
        const reply = extras[x++]
        if ((flags & REPLY_BODY) !== 0) (reply as { body: unknown }).body = Buffer.from(buffer, head[h + R_START]!, head[h + R_LENGTH]!)
        result.reply = bytesFromWire(reply)
      }
      this.options.onResult(this, head[h + R_TOKEN]!, result)
    }
    this.options.onResultsDone(this)
  }

  /** Once the thread has ended: the results it held and never sent, by token (only simple results are kept). */
  recover (): Map<number, PoolResult> { return this.journal.read() }

  async terminate (): Promise<void> {
    if (this.exited) return
    await this.worker.terminate()
  }
}
