/**
 * The pool model's worker thread: piscina loads this file, and its default export runs one batch of
 * tasks (pool-batch.ts packs them). Each task is one hook of one connection, run against a stand-in
 * ctx built from the primary's snapshot; what the handler does to that ctx (send, broadcast, close, a
 * new state) is recorded and returned with the reply, and the primary, which owns the socket, replays
 * it in order. The batch's results are the piscina task's return value (one transferred buffer);
 * results of async handlers still pending when the batch returns follow on parentPort, together, once
 * per turn of this thread's loop — so the thread takes the next batch meanwhile, and a slow reply does
 * not hold back its batchmates.
 */
import { MessageChannel, parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { move, transferableSymbol, valueSymbol } from 'piscina'
import { describeError, errorStack, errors, sharedStoreClient, type ConnectionContext, type Framing, type HandlerDefinition } from '@echoplex/core'
import { loadHandler } from '../handler-loader.js'
import { portChannel } from '../ipc/channel.js'
import { Peer } from '../ipc/peer.js'
import {
  BATCH_MAX_BYTES,
  BATCH_MAX_TASKS,
  HAS_ACTIONS,
  HAS_ERROR,
  HAS_STATE,
  HOOKS,
  HOOK_MASK,
  LOAD_FAILED,
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
  SLOT_STARTED,
  TASK_INTS,
  T_FLAGS,
  T_LENGTH,
  T_PORT,
  T_SLOT,
  T_START,
  T_TOKEN,
  bytesFromWire,
  isEmptyState,
  ownedBytes,
  ownsBuffer,
  type Batch,
  type LoadTask,
  type PoolAction,
  type PoolHook,
  type PoolWorkerData,
  type ResultBatch,
  type WorkerEvent,
  type WorkerToPrimary,
} from './pool-protocol.js'

const data = workerData as PoolWorkerData
const flags = new Int32Array(data.flags)
const post = (message: WorkerEvent, transfer?: Array<ArrayBuffer | MessagePort>): void => parentPort!.postMessage(message, transfer)

// ctx.shared: a private port to the primary, which answers from its one MemorySharedStore (the same
// store its LocalHub serves), so every operation is atomic there. The port travels once, on
// parentPort (piscina re-emits it as the pool's 'message'). Requests fail with errors.SHARED_FAILED.
const { port1: sharedPort, port2 } = new MessageChannel()
post({ type: 'shared-port', port: port2 }, [port2])
// the port must not keep an idle thread alive (piscina decides when threads end)
sharedPort.unref()
const primary = new Peer<never, WorkerToPrimary>(portChannel(sharedPort), { failure: errors.SHARED_FAILED, closedWhy: 'primary is gone' })
const shared = sharedStoreClient(async (op) => await primary.request({ type: 'shared', op }))

// the handler loads as the thread starts; a batch waits for it (and fails, marked, if it did not load)
const loading: Promise<HandlerDefinition> = loadHandler(data.handlerPath).catch((err: unknown) => {
  const why = describeError(err).replace(`handler ${data.handlerPath} failed to load: `, '')
  throw new Error(LOAD_FAILED + why)
})
loading.catch(() => {})
let handler: HandlerDefinition

/** One settled task, until its batch leaves. */
interface Outcome {
  token: number
  skipped?: boolean
  error?: string
  errorStack?: string
  actions?: PoolAction[]
  /** The state to send back; `empty` when it is an empty plain object (sent as nothing). */
  state?: unknown
  empty?: boolean
  /** Reply bytes, copied at once into the staging buffer (the handler may reuse its own): offset and length there. */
  start?: number
  length?: number
  /** A reply that is not bytes (a string, an HTTP response's head), or large bytes given back uncopied. */
  extra?: unknown
  hasExtra?: boolean
  /** The HTTP response's body is the staged bytes. */
  body?: boolean
  /** Buffers its actions or reply hand over. */
  moved?: ArrayBuffer[]
}

/** Outcomes gathered for one batch of results, with their reply bytes staged in one growing buffer. */
class Results {
  list: Outcome[] = []
  private staging = Buffer.allocUnsafeSlow(64 * 1024)
  private staged = 0

  get full (): boolean { return this.list.length >= BATCH_MAX_TASKS || this.staged >= BATCH_MAX_BYTES }

  /** Copies reply bytes into the staging buffer, growing it as needed; returns their offset. */
  stage (bytes: Uint8Array): number {
    if (this.staged + bytes.byteLength > this.staging.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.staging.length * 2, this.staged + bytes.byteLength))
      this.staging.copy(bigger, 0, 0, this.staged)
      this.staging = bigger
    }
    const at = this.staged
    this.staging.set(bytes, at)
    this.staged += bytes.byteLength
    return at
  }

  /** The gathered outcomes as one batch (and what to transfer with it); starts over empty. */
  take (): { batch: ResultBatch, transfer: ArrayBuffer[] } {
    const list = this.list
    const moved: ArrayBuffer[] = []
    for (const outcome of list) if (outcome.moved !== undefined) moved.push(...outcome.moved)
    this.list = []
    const byteBase = list.length * RESULT_INTS * 4
    const buffer = new ArrayBuffer(byteBase + this.staged)
    new Uint8Array(buffer, byteBase).set(this.staging.subarray(0, this.staged))
    this.staged = 0
    // something that cannot be cloned (a ctx.state holding a function…) fails only the task at fault
    for (const outcome of list) {
      if (canClone([outcome.actions, outcome.state, outcome.extra])) continue
      const what = canClone(outcome.state) ? 'the reply' : 'ctx.state'
      Object.assign(outcome, { error: `${what} cannot cross to the primary thread`, actions: undefined, state: undefined, empty: true, hasExtra: false, start: undefined })
    }
    return { batch: encode(list, buffer, byteBase), transfer: [buffer, ...new Set(moved)] }
  }
}

/** Results of async handlers that settled after their batch returned: sent on parentPort, once per turn. */
const late = new Results()
let lateQueued = false

function lateAdded (): void {
  if (late.full) { sendLate(); return }
  if (lateQueued) return
  lateQueued = true
  setImmediate(() => { lateQueued = false; if (late.list.length > 0) sendLate() })
}

function sendLate (): void {
  const { batch, transfer } = late.take()
  post(batch, transfer)
}

/** Runs one batch; its return value is the batch of results that settled by then. */
export default async function runBatch (task: Batch | LoadTask): Promise<unknown> {
  handler ??= await loading
  if (task.type === 'load') return { type: 'loaded' }
  const { buffer, count, extras } = task
  const head = new Int32Array(buffer, 0, count * TASK_INTS)
  const results = new Results()
  let pending = 0
  let returned = false
  const into = (later: boolean): Results => later && returned ? late : results
  let x = 0
  for (let h = 0; h < head.length; h += TASK_INTS) {
    const bits = head[h + T_FLAGS]!
    const id = extras[x++] as string
    const remoteAddress = extras[x++] as string
    const state = (bits & HAS_STATE) !== 0 ? extras[x++] : {}
    let message: unknown
    if ((bits & MSG_BYTES) !== 0) {
      message = Buffer.from(buffer, head[h + T_START]!, head[h + T_LENGTH]!)
    } else if ((bits & MSG_EXTRA) !== 0) {
      message = extras[x++]
      if ((bits & MSG_BODY) !== 0) (message as { body: unknown }).body = Buffer.from(buffer, head[h + T_START]!, head[h + T_LENGTH]!)
      else message = bytesFromWire(message)
    }
    const token = head[h + T_TOKEN]!
    // cancelled before it started (the connection closed while it waited), or given to another thread
    if (Atomics.compareExchange(flags, head[h + T_SLOT]!, token, SLOT_STARTED) !== token) {
      results.list.push({ token, skipped: true })
      continue
    }
    const port = head[h + T_PORT]!
    const info = { id, remoteAddress, remotePort: port === -1 ? undefined : port }
    if (run(HOOKS[bits & HOOK_MASK]!, token, info, state as Record<string, unknown>, message, into)) pending++
  }
  // async handlers that settle at once (no I/O) still make this batch: one turn of this thread's loop
  if (pending > 0) await nextTurn()
  returned = true
  const { batch, transfer } = results.take()
  // piscina transfers (rather than clones) what a moved Transferable return value lists
  return move({ [transferableSymbol]: transfer, [valueSymbol]: batch } as never)
}

function encode (list: Outcome[], buffer: ArrayBuffer, byteBase: number): ResultBatch {
  const head = new Int32Array(buffer, 0, list.length * RESULT_INTS)
  const extras: unknown[] = []
  for (let i = 0, h = 0; i < list.length; i++, h += RESULT_INTS) {
    const o = list[i]!
    let bits = 0
    if (o.skipped === true) bits |= SKIPPED
    if (o.error !== undefined) { bits |= HAS_ERROR; extras.push(o.error, o.errorStack ?? null) }
    if (o.actions !== undefined && o.actions.length > 0) { bits |= HAS_ACTIONS; extras.push(o.actions) }
    if (o.skipped !== true && o.empty !== true) { bits |= R_HAS_STATE; extras.push(o.state) }
    if (o.hasExtra === true) {
      bits |= REPLY_EXTRA
      extras.push(o.extra)
      if (o.body === true) bits |= REPLY_BODY
    } else if (o.start !== undefined) {
      bits |= REPLY_BYTES
    }
    if (o.start !== undefined) {
      head[h + R_START] = byteBase + o.start
      head[h + R_LENGTH] = o.length!
    }
    head[h + R_TOKEN] = o.token
    head[h + R_FLAGS] = bits
  }
  return { type: 'results', buffer, count: list.length, extras, threadId }
}

function canClone (value: unknown): boolean {
  try {
    structuredClone(value)
    return true
  } catch {
    return false
  }
}

interface ConnInfo { id: string, remoteAddress: string, remotePort: number | undefined }

/**
 * Runs one hook; its outcome goes to `into(later)`'s results (later: it settled after the hook
 * returned). True when the hook returned a promise (its outcome comes later).
 */
function run (hook: PoolHook, token: number, info: ConnInfo, initial: Record<string, unknown>, message: unknown, into: (later: boolean) => Results): boolean {
  const actions: PoolAction[] = []
  const moved: ArrayBuffer[] = []
  let state = initial
  // after the hook settled, the primary has our actions already: later calls could not reach it
  let settled = false
  const record = (action: PoolAction): void => { if (!settled) actions.push(action) }
  const bytes = (value: string | Uint8Array): string | Uint8Array => typeof value === 'string' ? value : ownedBytes(value, moved)
  const ctx: ConnectionContext = {
    id: info.id,
    remoteAddress: info.remoteAddress,
    remotePort: info.remotePort,
    pid: process.pid,
    model: data.model,
    send: (value) => record({ type: 'send', data: bytes(value) }),
    broadcast: (value) => record({ type: 'broadcast', data: bytes(value) }),
    close: () => record({ type: 'close' }),
    shared,
    get state () { return state },
    set state (value) { state = value },
  }
  const done = (reply: unknown, error: unknown, later: boolean): void => {
    settled = true
    const results = into(later)
    const outcome: Outcome = { token, actions, state, moved }
    if (isEmptyState(state)) outcome.empty = true
    if (error !== undefined) {
      outcome.error = describeError(error)
      outcome.errorStack = errorStack(error)
    } else {
      try {
        replyOut(outcome, reply, handler.framing, message, results)
      } catch (err) {
        outcome.error = describeError(err)
      }
    }
    results.list.push(outcome)
    if (results === late) lateAdded()
  }
  let result: unknown
  try {
    if (hook === 'connect') result = handler.onConnect?.(ctx)
    else if (hook === 'close') result = handler.onClose?.(ctx)
    else result = handler.onMessage(message as never, ctx)
  } catch (err) {
    done(undefined, err ?? new Error(String(err)), false)
    return false
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    (result as PromiseLike<unknown>).then(
      (reply) => done(hook === 'message' ? reply : undefined, undefined, true),
      (err: unknown) => done(undefined, err ?? new Error(String(err)), true))
    return true
  }
  done(hook === 'message' ? result : undefined, undefined, false)
  return false
}

/**
 * A reply as it crosses back: bytes copied at once into the batch's buffer — or, when the reply is
 * the very message the primary gave away (an echo of a large payload), that buffer transferred back
 * uncopied.
 */
function replyOut (outcome: Outcome, reply: unknown, framing: Framing, message: unknown, results: Results): void {
  if (reply === null || reply === undefined) return
  if (typeof reply === 'string') { outcome.extra = reply; outcome.hasExtra = true; return }
  if (reply instanceof Uint8Array) {
    if (givenBack(outcome, reply, message)) { outcome.extra = reply; outcome.hasExtra = true; return }
    outcome.start = results.stage(reply)
    outcome.length = reply.byteLength
    return
  }
  if (framing === 'http' && typeof reply === 'object') {
    const { body, ...head } = reply as { body?: unknown }
    outcome.hasExtra = true
    if (!(body instanceof Uint8Array)) { outcome.extra = reply; return }
    if (givenBack(outcome, body, (message as { body?: unknown } | undefined)?.body)) { outcome.extra = reply; return }
    outcome.extra = head
    outcome.body = true
    outcome.start = results.stage(body)
    outcome.length = body.byteLength
    return
  }
  throw new Error(`unsupported reply type ${typeof reply} (return a string, a Uint8Array or nothing)`)
}

/** The reply is the large message buffer the primary transferred here: it goes back the same way. */
function givenBack (outcome: Outcome, reply: Uint8Array, given: unknown): boolean {
  if (!(given instanceof Uint8Array) || reply.buffer !== given.buffer || !ownsBuffer(reply)) return false
  const moved = outcome.moved ??= []
  if (!moved.includes(reply.buffer as ArrayBuffer)) moved.push(reply.buffer as ArrayBuffer)
  return true
}
