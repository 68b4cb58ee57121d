/**
 * What crosses between the pool model's primary (pool-executor.ts) and its worker threads
 * (pool-worker.ts). Everything here is structured-cloned, or transferred where it is bytes we own.
 */
import type { SharedOp } from '@echoplex/core'
import type { MessagePort } from 'node:worker_threads'

export type PoolHook = 'load' | 'connect' | 'message' | 'close'

/** The parts of a ConnectionContext that a worker can be given: data, no functions. */
export interface CtxSnapshot {
  id: string
  remoteAddress: string
  remotePort: number | undefined
  pid: number
  model: string
  /** The primary's ctx.state, cloned for this task; the worker's copy comes back and replaces it. */
  state: Record<string, unknown>
}

export interface PoolTask {
  hook: PoolHook
  /** Absolute path of the handler module; the worker imports it once and caches it by path. */
  path: string
  ctx: CtxSnapshot
  /** `message` only: the decoded message, bytes as a Uint8Array over a buffer of its own. */
  message?: unknown
  /** Index in the started-flags array (see SLOT_*), and the token the worker swaps out when it starts. */
  slot: number
  token: number
}

/** What a handler did to its ctx, in order; the primary replays it on the real ctx. */
export type PoolAction =
  | { type: 'send' | 'broadcast', data: string | Uint8Array }
  | { type: 'close' }

export interface PoolResult {
  /** The task was cancelled before it started: the handler did not run. */
  skipped?: true
  state?: Record<string, unknown>
  actions?: PoolAction[]
  reply?: unknown
  /** The handler threw or rejected (one line); state and actions up to that point are still here. */
  error?: string
  /** The stack of that error, from the worker thread where it was thrown. */
  errorStack?: string
}

/**
 * Started flags, one Int32 per task slot in a SharedArrayBuffer given to every worker as workerData.
 * The primary writes a task's token before submitting it; the worker compare-and-swaps token → STARTED
 * when it begins, and `cancel` swaps token → CANCELLED. Exactly one of the two wins, so a task is
 * either run or dropped, never both, and a running task is never aborted (piscina would kill its thread).
 */
export const SLOT_FREE = 0
export const SLOT_STARTED = -1
export const SLOT_CANCELLED = -2

export interface PoolWorkerData {
  flags: SharedArrayBuffer
}

/**
 * Sent once by every worker over parentPort (piscina re-emits it as the pool's 'message'): the port
 * its ctx.shared requests travel on (a Peer at each end).
 */
export interface SharedPortMessage { type: 'shared-port', port: MessagePort }

/**
 * Sent by a worker over parentPort when handler code of a connection threw where nothing awaited it
 * (a timer set by a hook): the primary closes that connection; the thread lives on.
 */
export interface FaultMessage { type: 'fault', conn: string, error: string, stack?: string }

export function isFaultMessage (message: unknown): message is FaultMessage {
  return message !== null && typeof message === 'object' && (message as { type?: unknown }).type === 'fault'
}

export function isSharedPortMessage (message: unknown): message is SharedPortMessage {
  return message !== null && typeof message === 'object' && (message as { type?: unknown }).type === 'shared-port'
}

/** What a worker asks the primary on its shared port: one shared-store operation (a Peer request). */
export type WorkerToPrimary = { type: 'shared', id: number, op: SharedOp }

/**
 * Bytes to send to another thread: a Uint8Array over an ArrayBuffer of exactly its size, so it can be
 * transferred (a Buffer is often a view into a larger slab, which a structured clone copies whole).
 */
export function ownedBytes (data: Uint8Array, transfer: Set<ArrayBuffer>): Uint8Array {
  const copy = new Uint8Array(data.byteLength)
  copy.set(data)
  transfer.add(copy.buffer)
  return copy
}

/** A received Uint8Array as a Buffer over the same memory (no copy). */
export function asBuffer (data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/** Bytes out of a message/reply object: a Uint8Array itself, or an `http` request/response's body. */
export function bytesToWire (value: unknown, transfer: Set<ArrayBuffer>): unknown {
  if (value instanceof Uint8Array) return ownedBytes(value, transfer)
  if (value !== null && typeof value === 'object') {
    const body = (value as { body?: unknown }).body
    if (body instanceof Uint8Array) return { ...value, body: ownedBytes(body, transfer) }
  }
  return value
}

/** The inverse of bytesToWire on the receiving side: Uint8Array → Buffer, for bodies too. */
export function bytesFromWire (value: unknown): unknown {
  if (value instanceof Uint8Array) return asBuffer(value)
  if (value !== null && typeof value === 'object') {
    const obj = value as { body?: unknown }
    if (obj.body instanceof Uint8Array) obj.body = asBuffer(obj.body)
  }
  return value
}
