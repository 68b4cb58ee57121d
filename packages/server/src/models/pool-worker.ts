/**
 * The pool model's worker thread. It imports the handler module by path, says `ready`, then runs the
 * batches of tasks the primary sends (pool-thread.ts): each task is one hook of one connection, run
 * against a stand-in ctx built from the primary's snapshot. What the handler does to that ctx (send,
 * broadcast, close, a new state) is recorded and returned with the reply; the primary, which owns the
 * socket, replays it in order. Results go back in batches too: those that settled in one turn of this
 * thread's loop (a batch of synchronous handlers: all of them), or sooner when a batch runs long.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { catchHandlerFaults, createLogger, describeError, errorStack, errors, runOwnedBy, sharedStoreClient, type ConnectionContext, type FaultOwner, type Framing, type HandlerDefinition } from '@echoplex/core'
import { loadHandler } from '../handler-loader.js'
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
  HOOK_MASK,
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
  T_CONN,
  T_FLAGS,
  T_LENGTH,
  T_SLOT,
  T_START,
  T_TOKEN,
  bytesFromWire,
  isEmptyState,
  ownedBytes,
  ownsBuffer,
  type Batch,
  type ConnInfo,
  type PoolAction,
  type PoolHook,
  type PoolWorkerData,
  type WorkerMessage,
  type WorkerToPrimary,
} from './pool-protocol.js'
import { ResultJournal, type JournalReply } from './pool-journal.js'

/** A batch of slow handlers still sends what it has this often, so early replies do not wait for late ones. */
const FLUSH_EVERY_MS = 1

const data = workerData as PoolWorkerData
const flags = new Int32Array(data.flags)
const port = parentPort!
const post = (message: WorkerMessage, transfer?: ArrayBuffer[]): void => port.postMessage(message, transfer)

// ctx.shared: a private port to the primary, which answers from its one MemorySharedStore (the same
// store its LocalHub serves), so every operation is atomic there. Requests fail with errors.SHARED_FAILED.
const primary = new Peer<never, WorkerToPrimary>(portChannel(data.sharedPort), { failure: errors.SHARED_FAILED, closedWhy: 'primary is gone' })
const shared = sharedStoreClient(async (op) => await primary.request({ type: 'shared', op }))

// what a handler throws later, from a timer of its own, is its connection's: the primary closes that
// one and this thread lives on. A throw owned by no connection ends the thread (the pool replaces it).
const logger = createLogger({ model: 'pool', role: 'thread' })
catchHandlerFaults(logger, (err) => {
  logger.fatal({ err: describeError(err), stack: errorStack(err) }, 'uncaught exception in a pool thread; ending it')
  process.exit(1)
})

/** The connection a task runs for, as the owner of whatever its handler code leaves behind. */
function ownerOf (id: string): FaultOwner {
  return { id, fault: (err) => post({ type: 'fault', conn: id, error: describeError(err), stack: errorStack(err) }) }
}

let handler: HandlerDefinition
try {
  handler = await loadHandler(data.handlerPath)
} catch (err) {
  const why = describeError(err).replace(`handler ${data.handlerPath} failed to load: `, '')
  post({ type: 'ready', error: why })
  // the primary ends this thread; nothing else is to run here
  await new Promise(() => {})
}

/** A connection this thread has served: what its ctx shows, and its owner for faults (made once, not per task). */
interface KnownConn { info: ConnInfo, owner: FaultOwner }

/** The connections this thread has served, by the primary's key (dropped on FORGET). */
const conns = new Map<number, KnownConn>()

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
  /** Reply bytes, copied at once into `staging` (the handler may reuse its buffer): offset and length there. */
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

let outcomes: Outcome[] = []
let staging = Buffer.allocUnsafeSlow(64 * 1024)
let staged = 0
let lastFlush = performance.now()
let flushQueued = false
/** Tasks run since the last results left, and the time their synchronous part took (µs). */
let ran = 0
let ranUs = 0

port.on('message', (batch: Batch) => {
  const { buffer, count, extras } = batch
  const head = new Int32Array(buffer, 0, count * TASK_INTS)
  let x = 0
  for (let h = 0; h < head.length; h += TASK_INTS) {
    const bits = head[h + T_FLAGS]!
    const key = head[h + T_CONN]!
    if ((bits & HOOK_MASK) === FORGET) { conns.delete(key); continue }
    if ((bits & HAS_INFO) !== 0) {
      const info = extras[x++] as ConnInfo
      conns.set(key, { info, owner: ownerOf(info[0]) })
    }
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
    // cancelled before it started (the connection closed while it waited), or moved to another thread
    if (Atomics.compareExchange(flags, head[h + T_SLOT]!, token, SLOT_STARTED) !== token) {
      push({ token, skipped: true })
      continue
    }
    // a task about to start could never return: results still waiting to leave are copied first
    if (journaled < outcomes.length) journalWaiting()
    const started = performance.now()
    run(HOOKS[bits & HOOK_MASK]!, token, conns.get(key)!, state as Record<string, unknown>, message)
    const now = performance.now()
    ran++
    ranUs += (now - started) * 1000
    if (outcomes.length > 0 && now - lastFlush >= FLUSH_EVERY_MS) flush()
  }
  if (outcomes.length > 0) flush()
})
post({ type: 'ready' })
// a handler's process.exit ends this thread at once: results other tasks of its batch already have
// still leave (the primary would otherwise fail those connections as if their own handler had died)
process.on('exit', () => { if (outcomes.length > 0) flush() })

function push (outcome: Outcome): void {
  outcomes.push(outcome)
  if (outcomes.length >= BATCH_MAX_TASKS || staged >= BATCH_MAX_BYTES) flush()
}

const journal = new ResultJournal(data.journal)
/** outcomes[0, journaled) are in the journal. */
let journaled = 0

/** Copies the results waiting to leave into the journal (pool-journal.ts): they outlive a stop of this thread. */
function journalWaiting (): void {
  while (journaled < outcomes.length) {
    const o = outcomes[journaled++]!
    const reply = journalReply(o)
    if (reply !== null) journal.add(o.token, reply)
  }
}

/** What of a result the journal keeps; null: not a simple result (ctx calls, state, an error, bytes given back uncopied). */
function journalReply (o: Outcome): JournalReply | null {
  if (o.skipped === true || o.error !== undefined || (o.actions !== undefined && o.actions.length > 0) || o.empty !== true) return null
  const bytes = o.start === undefined ? undefined : staging.subarray(o.start, o.start + o.length!)
  if (o.hasExtra !== true) return bytes
  if (typeof o.extra === 'string') return o.extra
  if (handler.framing !== 'http' || o.extra === null || typeof o.extra !== 'object' || o.extra instanceof Uint8Array) return null
  // an HTTP response: what its encoder reads (status, headers, a string body), and a byte body
  const { status, headers, body } = o.extra as { status?: unknown, headers?: unknown, body?: unknown }
  return { head: { status, headers, body: typeof body === 'string' ? body : undefined }, body: o.body === true ? bytes : undefined }
}

/** Results that settle outside a batch's run (async handlers) go out together, once per turn. */
function pushLater (outcome: Outcome): void {
  push(outcome)
  // it waits for the end of this turn, while other code of this thread may run (and never return)
  journalWaiting()
  if (flushQueued || outcomes.length === 0) return
  flushQueued = true
  setImmediate(() => { flushQueued = false; if (outcomes.length > 0) flush() })
}

/** Copies reply bytes into the staging buffer, growing it as needed; returns their offset. */
function stage (bytes: Uint8Array): number {
  if (staged + bytes.byteLength > staging.length) {
    const bigger = Buffer.allocUnsafeSlow(Math.max(staging.length * 2, staged + bytes.byteLength))
    staging.copy(bigger, 0, 0, staged)
    staging = bigger
  }
  const at = staged
  staging.set(bytes, at)
  staged += bytes.byteLength
  return at
}

function flush (): void {
  const list = outcomes
  const moved: ArrayBuffer[] = []
  for (const outcome of list) if (outcome.moved !== undefined) moved.push(...outcome.moved)
  outcomes = []
  lastFlush = performance.now()
  const byteBase = list.length * RESULT_INTS * 4
  const buffer = new ArrayBuffer(byteBase + staged)
  new Uint8Array(buffer, byteBase).set(staging.subarray(0, staged))
  staged = 0
  try {
    post(encode(list, buffer, byteBase), [buffer, ...moved])
  } catch {
    // something cannot be cloned (a ctx.state holding a function…): only the tasks at fault fail (a
    // failed postMessage has transferred nothing)
    for (const outcome of list) {
      if (canClone([outcome.actions, outcome.state, outcome.extra])) continue
      const what = canClone(outcome.state) ? 'the reply' : 'ctx.state'
      Object.assign(outcome, { error: `${what} cannot cross to the primary thread`, actions: undefined, state: undefined, empty: true, hasExtra: false, start: undefined })
    }
    post(encode(list, buffer, byteBase), [buffer, ...moved])
  }
  // these results are on their way: the journal (and the task-cost tally) start again
  journal.clear()
  journaled = 0
  ran = 0
  ranUs = 0
}

function encode (list: Outcome[], buffer: ArrayBuffer, byteBase: number): Batch {
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
  return { type: 'results', buffer, count: list.length, extras, ran, ranUs }
}

function canClone (value: unknown): boolean {
  try {
    structuredClone(value)
    return true
  } catch {
    return false
  }
}

/**
 * Runs one hook against a stand-in ctx. What it allocates is what a task costs this thread's young
 * generation, so it is kept small: `state` is a plain property (read back when the hook settles), the
 * lists of actions and moved buffers are made on first use, and the connection's fault owner is made
 * once per connection. (A ctx with a state getter and setter, fresh lists and an owner per task came to
 * about 1 KB per task, most of this thread's allocation: its scavenges ran every few hundred ms and,
 * sharing a core with the primary, stalled a batch for 10–25 ms.)
 */
function run (hook: PoolHook, token: number, conn: KnownConn, initial: Record<string, unknown>, message: unknown): void {
  const info = conn.info
  let actions: PoolAction[] | undefined
  let moved: ArrayBuffer[] | undefined
  // after the hook settled, the primary has our actions already: later calls could not reach it
  let settled = false
  const record = (action: PoolAction): void => { if (!settled) (actions ??= []).push(action) }
  const bytes = (value: string | Uint8Array): string | Uint8Array => typeof value === 'string' ? value : ownedBytes(value, moved ??= [])
  const ctx: ConnectionContext = {
    id: info[0],
    remoteAddress: info[1],
    remotePort: info[2],
    pid: data.pid,
    model: data.model,
    send: (value) => record({ type: 'send', data: bytes(value) }),
    broadcast: (value) => record({ type: 'broadcast', data: bytes(value) }),
    close: () => record({ type: 'close' }),
    shared,
    state: initial,
  }
  const done = (reply: unknown, error: unknown, later: boolean): void => {
    settled = true
    const state = ctx.state
    const outcome: Outcome = { token, actions, state, moved }
    if (isEmptyState(state)) outcome.empty = true
    if (error !== undefined) {
      outcome.error = describeError(error)
      outcome.errorStack = errorStack(error)
    } else {
      try {
        replyOut(outcome, reply, handler.framing, message)
      } catch (err) {
        outcome.error = describeError(err)
      }
    }
    if (later) pushLater(outcome)
    else push(outcome)
  }
  let result: unknown
  try {
    result = runOwnedBy(conn.owner, callHook, hook, ctx, message)
  } catch (err) {
    done(undefined, err ?? new Error(String(err)), false)
    return
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    (result as PromiseLike<unknown>).then(
      (reply) => done(hook === 'message' ? reply : undefined, undefined, true),
      (err: unknown) => done(undefined, err ?? new Error(String(err)), true))
  } else {
    done(hook === 'message' ? result : undefined, undefined, false)
  }
}

/** One hook of the handler, run as its connection's code (see runOwnedBy). */
function callHook (hook: PoolHook, ctx: ConnectionContext, message: unknown): unknown {
  if (hook === 'connect') return handler.onConnect?.(ctx)
  if (hook === 'close') return handler.onClose?.(ctx)
  return handler.onMessage(message as never, ctx)
}

/**
 * A reply as it crosses back: bytes copied at once into the batch's buffer — or, when the reply is
 * the very message the primary gave away (an echo of a large payload), that buffer transferred back
 * uncopied.
 */
function replyOut (outcome: Outcome, reply: unknown, framing: Framing, message: unknown): void {
  if (reply === null || reply === undefined) return
  if (typeof reply === 'string') { outcome.extra = reply; outcome.hasExtra = true; return }
  if (reply instanceof Uint8Array) {
    if (givenBack(outcome, reply, message)) { outcome.extra = reply; outcome.hasExtra = true; return }
    outcome.start = stage(reply)
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
    outcome.start = stage(body)
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
