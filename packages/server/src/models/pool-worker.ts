/**
 * The pool model's worker thread (piscina loads this file; its default export runs one task). A task
 * is one hook of one connection: the handler module is imported here by path (once per path, cached),
 * and run against a stand-in ctx built from the primary's snapshot. What the handler does to that ctx
 * (send, broadcast, close, a new state) is recorded and returned with the reply; the primary, which
 * owns the socket, replays it in order.
 */
import { MessageChannel, parentPort, workerData } from 'node:worker_threads'
import { move, transferableSymbol, valueSymbol } from 'piscina'
import { catchHandlerFaults, createLogger, describeError, errorStack, errors, runOwnedBy, sharedStoreClient, type ConnectionContext, type FaultOwner, type Framing, type HandlerDefinition } from '@echoplex/core'
import { loadHandler } from '../handler-loader.js'
import { portChannel } from '../ipc/channel.js'
import { Peer } from '../ipc/peer.js'
import {
  SLOT_STARTED,
  bytesFromWire,
  ownedBytes,
  type PoolAction,
  type PoolResult,
  type PoolTask,
  type FaultMessage,
  type PoolWorkerData,
  type SharedPortMessage,
  type WorkerToPrimary,
} from './pool-protocol.js'

const flags = new Int32Array((workerData as PoolWorkerData).flags)

// ctx.shared: a private MessagePort to the primary, which answers from its one MemorySharedStore (the
// same store its LocalHub serves), so every operation is atomic there. The port travels once, over
// parentPort, which piscina re-emits on the pool as a 'message' event.
// Requests fail with errors.SHARED_FAILED, as in every model.
const { port1: sharedPort, port2 } = new MessageChannel()
parentPort!.postMessage({ type: 'shared-port', port: port2 } satisfies SharedPortMessage, [port2])
const primary = new Peer<never, WorkerToPrimary>(portChannel(sharedPort), { failure: errors.SHARED_FAILED, closedWhy: 'primary is gone' })
const shared = sharedStoreClient(async (op) => await primary.request({ type: 'shared', op }))

const handlers = new Map<string, Promise<HandlerDefinition>>()

// what a handler throws later, from a timer of its own, is its connection's: the primary closes that
// one and this thread lives on. A throw owned by no connection ends the thread (piscina replaces it).
const logger = createLogger({ model: 'pool', role: 'thread' })
catchHandlerFaults(logger, (err) => {
  logger.fatal({ err: describeError(err) }, 'uncaught exception in a pool thread; ending it')
  process.exit(1)
})

/** The connection a task runs for, as the owner of whatever its handler code leaves behind. */
function ownerOf (id: string): FaultOwner {
  return { id, fault: (err) => parentPort!.postMessage({ type: 'fault', conn: id, error: describeError(err), stack: errorStack(err) } satisfies FaultMessage) }
}

/** Imports a handler once per path; a failed import is forgotten so the next task tries again. */
async function handlerAt (path: string): Promise<HandlerDefinition> {
  let loading = handlers.get(path)
  if (loading === undefined) {
    loading = loadHandler(path)
    handlers.set(path, loading)
    loading.catch(() => { if (handlers.get(path) === loading) handlers.delete(path) })
  }
  return await loading
}

/** A reply as it crosses back: bytes copied into a buffer of their own (transferred), else checked. */
function replyToWire (reply: unknown, framing: Framing, transfer: Set<ArrayBuffer>): unknown {
  if (reply === null || reply === undefined || typeof reply === 'string') return reply
  if (reply instanceof Uint8Array) return ownedBytes(reply, transfer)
  if (framing === 'http' && typeof reply === 'object') {
    const { body, ...head } = reply as { body?: unknown }
    assertCloneable(head, 'an HTTP response')
    return body instanceof Uint8Array ? { ...head, body: ownedBytes(body, transfer) } : { ...head, body }
  }
  throw new Error(`unsupported reply type ${typeof reply} (return a string, a Uint8Array or nothing)`)
}

/** A value the structured clone would reject would make piscina lose the whole thread: fail the task instead. */
function assertCloneable (value: unknown, what: string): void {
  try {
    structuredClone(value)
  } catch (err) {
    throw new Error(`${what} cannot cross to the primary thread: ${describeError(err)}`)
  }
}

export default async function runTask (task: PoolTask): Promise<unknown> {
  // cancelled before it started (the connection closed while it waited): do not run the handler
  if (task.slot >= 0 && Atomics.compareExchange(flags, task.slot, task.token, SLOT_STARTED) !== task.token) {
    return { skipped: true } satisfies PoolResult
  }
  const handler = await handlerAt(task.path)
  if (task.hook === 'load') return {} satisfies PoolResult

  const actions: PoolAction[] = []
  const transfer = new Set<ArrayBuffer>()
  const snap = task.ctx
  let state = snap.state
  // after the hook settled, the primary has our actions already: later calls could not reach it
  let settled = false
  const record = (action: PoolAction): void => { if (!settled) actions.push(action) }
  const bytes = (data: string | Uint8Array): string | Uint8Array => typeof data === 'string' ? data : ownedBytes(data, transfer)
  const ctx: ConnectionContext = {
    id: snap.id,
    remoteAddress: snap.remoteAddress,
    remotePort: snap.remotePort,
    pid: snap.pid,
    model: snap.model,
    send: (data) => record({ type: 'send', data: bytes(data) }),
    broadcast: (data) => record({ type: 'broadcast', data: bytes(data) }),
    close: () => record({ type: 'close' }),
    shared,
    get state () { return state },
    set state (value) { state = value },
  }

  const result: PoolResult = { actions }
  try {
    const owner = ownerOf(snap.id)
    if (task.hook === 'connect') {
      await runOwnedBy(owner, () => handler.onConnect?.(ctx))
    } else if (task.hook === 'close') {
      await runOwnedBy(owner, () => handler.onClose?.(ctx))
    } else {
      const reply = await runOwnedBy(owner, () => handler.onMessage(bytesFromWire(task.message) as never, ctx))
      result.reply = replyToWire(reply, handler.framing, transfer)
    }
  } catch (err) {
    result.error = describeError(err)
    result.errorStack = errorStack(err)
  }
  settled = true
  try {
    assertCloneable(state, 'ctx.state')
    result.state = state
  } catch (err) {
    result.error ??= describeError(err)
  }
  if (transfer.size === 0) return result
  return move({ [transferableSymbol]: [...transfer], [valueSymbol]: result } as never)
}
