import { availableParallelism } from 'node:os'
import { LocalHub, MemorySharedStore, catchHandlerFaults, createLogger, describeError, exitProcess, localSharedStore, remoteError } from '@echoplex/core'
import type { ModelStats, StopResult } from '../model.js'
import { BaseModel } from '../model-base.js'
import { defineModel } from '../model.js'
import { heartbeatOption, workersOption } from './options.js'
import { ConnectionServer } from '../connection-server.js'
import { loadHandler } from '../handler-loader.js'
import { ListenerSource } from '../sources/listener.js'
import { PoolExecutor } from './pool-executor.js'

/** Tasks given to the threads per thread, by default, before the executor holds them itself. */
const QUEUE_PER_WORKER = 64
/** After the grace period, how long stop() still waits before tearing the pool down under stuck tasks. */
const STOP_SLACK_MS = 2000

/**
 * The primary thread does all socket I/O, with the same connection runtime as `event-loop`; each hook
 * and message runs on a worker thread (PoolExecutor, pool-thread.ts, pool-worker.ts), which loads the
 * handler module by path. CPU-bound handlers use several cores without extra processes. Tasks travel
 * to the threads, and results back, in batches: whatever was ready in one turn of the loop.
 *
 * - `ctx.state` is structured-cloned to the worker with every task and the worker's copy comes back
 *   and replaces the primary's: keep it small and cloneable (a Buffer in it comes back a Uint8Array).
 * - `ctx.send`/`broadcast`/`close` are recorded in the worker and replayed, in order, by the primary
 *   before it writes the reply; calls made after the hook's promise settled are dropped.
 * - `ctx.shared`: every worker has a private MessagePort to the primary, which answers from the one
 *   MemorySharedStore its LocalHub also serves, so each operation is atomic there.
 * - A thread that dies (`process.exit` in a handler, a fatal error, the heartbeat watchdog) fails only
 *   the connections whose tasks had started on it; tasks it had not started go to another thread, and
 *   a replacement thread is started.
 */
export class PoolModel extends BaseModel {
  readonly name = 'pool' as const
  private serving: ConnectionServer | undefined
  private executor: PoolExecutor | undefined

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    const { handlerPath, limits } = this.options
    // fail fast, in one line, and learn the framing the connection runtime needs
    const handler = await loadHandler(handlerPath)
    const logger = createLogger({ model: this.name })
    // handler code runs on the threads; a throw nobody owns on this one is echoplex's: exit
    catchHandlerFaults(logger, (err) => { logger.fatal({ err: describeError(err) }, 'uncaught exception; exiting'); exitProcess(1) })
    const workers = Math.max(1, this.options.workers ?? availableParallelism())
    const store = new MemorySharedStore()
    const executor = new PoolExecutor({
      handler,
      handlerPath,
      workers,
      maxQueue: this.options.maxQueue ?? workers * QUEUE_PER_WORKER,
      store,
      logger,
      heartbeatMs: this.options.heartbeatMs,
      onFatal: this.options.onFatal,
      onFault: (conn, error, stack) => this.serving?.find(conn)?.fault(remoteError(error, stack)),
    })
    this.executor = executor
    try {
      await executor.warm()
      this.serving = new ConnectionServer({
        executor,
        hub: new LocalHub(localSharedStore(store)),
        limits,
        model: this.name,
        logger,
        proxyProtocol: this.options.proxyProtocol,
      })
      this.listeningAt = await this.serving.serve(new ListenerSource({ target: this.options.listen, limits, logger }))
    } catch (err) {
      await executor.destroy()
      throw err
    }
    return this.listeningAt!
  }

  async stats (): Promise<ModelStats> {
    const executor = this.executor!
    const { batches, tasks } = executor.batching
    return this.envelope(this.serving!.counters, {
      threads: executor.liveThreads,
      workers: executor.workers,
      maxQueue: executor.maxQueue,
      completed: executor.completed,
      batches,
      tasksPerBatch: batches === 0 ? 0 : Math.round(tasks / batches * 100) / 100,
      taskCostUs: Math.round(executor.taskCost * 100) / 100,
      tasksPerThread: executor.tasksPerThread,
      inPool: executor.inPool,
      waiting: executor.waiting,
      cancelled: executor.cancelled,
      threadExits: executor.threadExits,
      stuckKilled: executor.stuckKilled,
    })
  }

  async restart (): Promise<number> {
    return await (this.executor?.restart() ?? Promise.resolve(0))
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    const executor = this.executor
    if (this.serving === undefined) {
      await executor?.destroy()
      return { forced: 0 }
    }
    // a task stuck in a handler would keep its connection's close waiting: past the grace period
    // (and some slack) the pool is torn down, which rejects every task and lets the drain finish
    const backstop = setTimeout(() => { void executor?.destroy() }, graceMs + STOP_SLACK_MS)
    try {
      return { forced: await this.serving.drain(graceMs) }
    } finally {
      clearTimeout(backstop)
      await executor?.destroy()
    }
  }
}

export default defineModel({
  name: 'pool',
  summary: 'the primary does all socket I/O; handlers run on worker threads, fed in batches',
  create: async (options) => new PoolModel(options),
  options: [
    workersOption('worker threads'),
    { flags: '--max-queue <n>', key: 'maxQueue', description: 'tasks queued for the pool before reading from sockets pauses', value: { kind: 'integer', min: 1, max: 1_000_000 } },
    heartbeatOption('a task running this long has its thread replaced'),
  ],
  roles: ['primary'],
  rollingRestart: true,
  bench: { workers: true, spares: false },
  suites: {
    conformanceArgs: ['--workers', '2'],
    faultArgs: ['--workers', '2'],
    onHandlerExit: 'its worker thread ended and was replaced',
    onStuckHandler: 'its task ran past the heartbeat (1.5 s); the thread was stopped and replaced; only its connection closed',
    sharesProcessesAcrossConnections: false,
    heartbeatKills: (stats) => stats.extra.stuckKilled as number,
  },
})
