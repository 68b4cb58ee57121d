import { AsyncLocalStorage } from 'node:async_hooks'
import { describeError } from '../errors.js'
import { errorStack } from '../error-stack.js'
import type { Logger } from '../log.js'

/** What handler code runs on behalf of: a connection, which a fault of that code closes. */
export interface FaultOwner {
  readonly id: string
  /** Handler code of this owner threw where nothing awaited it: close the owner, nothing else. */
  fault (err: unknown): void
}

/**
 * The owner of the handler code running now, carried through every callback, timer and promise it
 * starts (AsyncLocalStorage): an exception thrown long after a hook returned, from a timer it set,
 * still names the connection it belongs to.
 */
let ownersStore: AsyncLocalStorage<FaultOwner> | undefined
// made on first use, not at module load: a fork child's V8 startup snapshot holds this
// module already loaded, and must not carry an async-hooks store made while the snapshot was built
const owners = (): AsyncLocalStorage<FaultOwner> => (ownersStore ??= new AsyncLocalStorage<FaultOwner>())

/** Runs `fn(...args)` as `owner`'s handler code: whatever it schedules stays `owner`'s. */
export function runOwnedBy<A extends unknown[], R> (owner: FaultOwner, fn: (...args: A) => R, ...args: A): R {
  return owners().run(owner, fn, ...args)
}

/** The owner of the code running now, if it is handler code. */
export function currentFaultOwner (): FaultOwner | undefined {
  return owners().getStore()
}

/**
 * Routes what nothing caught to its owner, in this process or worker thread: an uncaught exception
 * or an unhandled rejection from handler code closes that code's connection (logged), and nothing
 * else. An uncaught exception with no owner is echoplex's own, or a module's at load: `onUnowned`
 * decides (a process exits). An unowned rejection is logged and ignored. Returns the uninstaller.
 */
export function catchHandlerFaults (logger: Logger, onUnowned: (err: unknown) => void): () => void {
  const onException = (err: unknown): void => {
    const owner = owners().getStore()
    if (owner === undefined) { onUnowned(err); return }
    logger.error({ conn: owner.id, err: describeError(err), stack: errorStack(err) }, 'handler code threw outside its hook (a timer or callback); closing its connection')
    owner.fault(err)
  }
  const onRejection = (err: unknown): void => {
    const owner = owners().getStore()
    if (owner === undefined) { logger.error({ err: describeError(err) }, 'unhandled rejection (ignored)'); return }
    logger.error({ conn: owner.id, err: describeError(err), stack: errorStack(err) }, 'handler code left a rejection unhandled; closing its connection')
    owner.fault(err)
  }
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}
