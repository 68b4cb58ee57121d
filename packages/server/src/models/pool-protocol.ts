/**
 * What crosses between the pool model's primary (pool-executor.ts, pool-thread.ts) and its worker
 * threads (pool-worker.ts). Tasks go down and results come up in batches — one postMessage carries
 * whatever was ready in one turn of the sender's loop — in a flat form that is cheap to clone: one
 * transferred ArrayBuffer holding an Int32 header per task (or result) followed by all the small
 * payloads, plus a short list of `extras` for what is not bytes (a non-empty ctx.state, an HTTP
 * request's head, an error…), read in order. A structured clone of many small objects costs several
 * times what the handler of an echo does; this costs one copy of the bytes and one small message.
 */
import type { SharedOp } from '@echoplex/core'
import type { MessagePort } from 'node:worker_threads'

export type PoolHook = 'connect' | 'message' | 'close'

/** The parts of a ConnectionContext that never change, sent to a thread once per connection. */
export type ConnInfo = [id: string, remoteAddress: string, remotePort: number | undefined]

/** What a handler did to its ctx, in order; the primary replays it on the real ctx. */
export type PoolAction =
  | { type: 'send' | 'broadcast', data: string | Uint8Array }
  | { type: 'close' }

/** A task's outcome, as the executor applies it. */
export interface PoolResult {
  /** The task was cancelled before it started: the handler did not run. */
  skipped?: true
  /** Present when the handler left a state other than an empty plain object. */
  state?: unknown
  actions?: PoolAction[]
  reply?: unknown
  /** The handler threw or rejected (one line); state and actions up to that point are still here. */
  error?: string
  /** The stack of that error, from the worker thread where it was thrown. */
  errorStack?: string
}

/** One message of a batch, either way: header + bytes in `buffer`, the rest in `extras`. */
export interface Batch {
  type: 'tasks' | 'results'
  buffer: ArrayBuffer
  count: number
  extras: unknown[]
  /**
   * Results only: the tasks this thread started since its previous results left, and the time it
   * spent running them (their synchronous part, in µs): what a task costs, for the primary to judge
   * whether handing one to another thread is worth a thread hop.
   */
  ran?: number
  ranUs?: number
}

/** Worker → primary, once: the handler module loaded (or did not: `error`, one line). */
export interface WorkerReady { type: 'ready', error?: string }
/**
 * Worker → primary: handler code of connection `conn` threw where nothing awaited it (a timer set by a
 * hook): the primary closes that connection; the thread lives on.
 */
export interface WorkerFault { type: 'fault', conn: string, error: string, stack?: string }
export type WorkerMessage = Batch | WorkerReady | WorkerFault

// A task's header: TASK_INTS Int32s.
export const TASK_INTS = 6
export const T_FLAGS = 0
export const T_SLOT = 1
export const T_TOKEN = 2
export const T_CONN = 3
export const T_START = 4
export const T_LENGTH = 5

// Task flags: the hook in the low bits, then what the task carries.
export const HOOKS: readonly PoolHook[] = ['connect', 'message', 'close']
export const HOOK_MASK = 0x3
/** Not a task: the thread forgets the connection's ConnInfo. */
export const FORGET = 0x3
/** extras: the connection's ConnInfo (first task of this connection on this thread). */
export const HAS_INFO = 1 << 2
/** extras: ctx.state (absent: an empty object). */
export const HAS_STATE = 1 << 3
/** The message is the bytes at T_START/T_LENGTH. */
export const MSG_BYTES = 1 << 4
/** extras: the message (an object, or large bytes transferred as they are). */
export const MSG_EXTRA = 1 << 5
/** The message from extras has its `body` at T_START/T_LENGTH. */
export const MSG_BODY = 1 << 6

// A result's header: RESULT_INTS Int32s.
export const RESULT_INTS = 4
export const R_TOKEN = 0
export const R_FLAGS = 1
export const R_START = 2
export const R_LENGTH = 3

// Result flags; extras are read in this order: error, actions, state, reply.
export const SKIPPED = 1
export const HAS_ERROR = 1 << 1
export const HAS_ACTIONS = 1 << 2
export const R_HAS_STATE = 1 << 3
export const REPLY_BYTES = 1 << 4
export const REPLY_EXTRA = 1 << 5
export const REPLY_BODY = 1 << 6

/**
 * Started flags, one Int32 per task slot in a SharedArrayBuffer given to every worker. The primary
 * writes a task's token before sending it; the worker compare-and-swaps token → STARTED when it
 * begins, and `cancel` swaps token → CANCELLED. Exactly one of the two wins, so a task is either run
 * or dropped, never both; a task that lost its thread before it started can be sent to another one.
 */
export const SLOT_FREE = 0
export const SLOT_STARTED = -1
export const SLOT_CANCELLED = -2

export interface PoolWorkerData {
  flags: SharedArrayBuffer
  /** Absolute path of the handler module: the worker imports it before it takes tasks. */
  handlerPath: string
  /** ctx.pid and ctx.model: the same for every connection. */
  pid: number
  model: string
  /** ctx.shared requests travel on this port (a Peer at each end). */
  sharedPort: MessagePort
  /** This thread's result journal (pool-journal.ts). */
  journal: SharedArrayBuffer
}

/** What a worker asks the primary on its shared port: one shared-store operation (a Peer request). */
export type WorkerToPrimary = { type: 'shared', id: number, op: SharedOp }

/** Most tasks (or results) in one batch; more that are ready go in the next message. */
export const BATCH_MAX_TASKS = 256
/** Most payload bytes copied into one batch. */
export const BATCH_MAX_BYTES = 1 << 20
/**
 * From this size a payload that owns its whole ArrayBuffer is transferred as it is (no copy at all);
 * below it, copying into the batch's buffer is cheaper than a transfer of its own.
 */
export const TRANSFER_MIN_BYTES = 64 * 1024

/** A large payload over an ArrayBuffer of exactly its size: transferable without a copy. */
export function ownsBuffer (data: Uint8Array): boolean {
  return data.byteLength >= TRANSFER_MIN_BYTES && data.byteOffset === 0 &&
    data.buffer instanceof ArrayBuffer && data.buffer.byteLength === data.byteLength
}

/** The bytes inside a message or reply: a Uint8Array itself, or an `http` request's/response's body. */
export function bytesIn (value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value
  if (value !== null && typeof value === 'object') {
    const body = (value as { body?: unknown }).body
    if (body instanceof Uint8Array) return body
  }
  return undefined
}

/** A plain object with no own keys: sent as nothing (the other side starts from `{}`). */
export function isEmptyState (state: unknown): boolean {
  if (state === null || typeof state !== 'object' || Object.getPrototypeOf(state) !== Object.prototype) return false
  for (const key in state) if (Object.hasOwn(state, key)) return false
  return true
}

/** A received Uint8Array as a Buffer over the same memory (no copy). */
export function asBuffer (data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/** On the receiving side: Uint8Array → Buffer, for bodies too. */
export function bytesFromWire (value: unknown): unknown {
  if (value instanceof Uint8Array) return asBuffer(value)
  if (value !== null && typeof value === 'object') {
    const obj = value as { body?: unknown }
    if (obj.body instanceof Uint8Array) obj.body = asBuffer(obj.body)
  }
  return value
}

/** Bytes as a Uint8Array over an ArrayBuffer of exactly their size (transferable). */
export function ownedBytes (data: Uint8Array, transfer: ArrayBuffer[]): Uint8Array {
  const copy = new Uint8Array(data.byteLength)
  copy.set(data)
  transfer.push(copy.buffer)
  return copy
}
