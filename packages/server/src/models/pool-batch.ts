/**
 * The primary's side of the pool's batch encoding (pool-protocol.ts): tasks of one loop turn packed
 * into one piscina task (one transferred buffer for all small payloads, large ones transferred as
 * they are), and a batch of results unpacked with their bytes as Buffers over the batch's buffer.
 */
import type { ConnectionContext } from '@echoplex/core'
import {
  BATCH_MAX_BYTES,
  BATCH_MAX_TASKS,
  HAS_ACTIONS,
  HAS_ERROR,
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
  T_FLAGS,
  T_LENGTH,
  T_PORT,
  T_SLOT,
  T_START,
  T_TOKEN,
  bytesFromWire,
  bytesIn,
  isEmptyState,
  ownsBuffer,
  type Batch,
  type PoolAction,
  type PoolHook,
  type PoolResult,
} from './pool-protocol.js'

/** What the encoder needs of a task. */
export interface BatchTask {
  hook: PoolHook
  ctx: ConnectionContext
  /** Set to undefined once its bytes were transferred (it cannot be sent again). */
  message: unknown
  slot: number
  token: number
}

/** Payload bytes this task adds to a batch's buffer (large owned buffers travel on their own). */
export function copiedBytes (task: BatchTask): number {
  if (task.hook !== 'message') return 0
  const bytes = bytesIn(task.message)
  return bytes === undefined || ownsBuffer(bytes) ? 0 : bytes.byteLength
}

/**
 * Splits a turn's tasks into batches: into `spread` of about equal size (so CPU-bound work still
 * reaches every thread), none over BATCH_MAX_TASKS tasks or BATCH_MAX_BYTES copied bytes.
 */
export function splitBatches<T extends BatchTask> (tasks: T[], spread: number): T[][] {
  const per = Math.min(BATCH_MAX_TASKS, Math.ceil(tasks.length / Math.max(1, Math.min(spread, tasks.length))))
  const out: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const task of tasks) {
    const size = copiedBytes(task)
    if (current.length > 0 && (current.length >= per || bytes + size > BATCH_MAX_BYTES)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(task)
    bytes += size
  }
  if (current.length > 0) out.push(current)
  return out
}

/** Packs tasks into one batch and the list of buffers to transfer with it. */
export function encodeTasks (tasks: BatchTask[]): { batch: Batch, transfer: ArrayBuffer[] } {
  const count = tasks.length
  let copied = 0
  for (const task of tasks) copied += copiedBytes(task)
  const byteBase = count * TASK_INTS * 4
  const buffer = new ArrayBuffer(byteBase + copied)
  const head = new Int32Array(buffer, 0, count * TASK_INTS)
  const bytes = new Uint8Array(buffer)
  const extras: unknown[] = []
  const transfer: ArrayBuffer[] = [buffer]
  let at = byteBase
  for (let i = 0, h = 0; i < count; i++, h += TASK_INTS) {
    const task = tasks[i]!
    const { ctx } = task
    let flags = HOOKS.indexOf(task.hook)
    // a batch may run on any thread of the pool: every task says whose it is
    extras.push(ctx.id, ctx.remoteAddress)
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
        // (so the task cannot be sent again, should its thread die before starting it)
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
    head[h + T_PORT] = ctx.remotePort ?? -1
  }
  return { batch: { type: 'tasks', buffer, count, extras }, transfer }
}

/** Unpacks a batch of results: bytes become Buffers over the batch's buffer (no copy). */
export function decodeResults (batch: Batch, each: (token: number, result: PoolResult) => void): void {
  const { buffer, count, extras } = batch
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
    each(head[h + R_TOKEN]!, result)
  }
}
