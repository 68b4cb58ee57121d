import cluster, { type Worker } from 'node:cluster'
import { fileURLToPath } from 'node:url'
import { createLogger, errors, type Logger } from '@echoplex/core'
import type { ConcurrencyModel, ListenTarget, ModelStats, ServeOptions, StopResult } from '../model.js'
import { clearStaleSocket, formatTarget } from '../listen.js'
import { loadHandler } from '../handler-loader.js'
import { PrimaryHub, send, type ChildChannel } from '../ipc/primary-hub.js'
import { ChildBook, bootError, watchHeartbeats } from '../ipc/children.js'
import { CHILD_CONFIG_ENV, type ChildConfig, type ChildToPrimary } from '../ipc/protocol.js'

/** More crashes than this within CRASH_WINDOW_MS is a crash loop: halt instead of respawning. */
const CRASH_LIMIT = 5
const CRASH_WINDOW_MS = 10_000

interface WorkerState {
  worker: Worker
  channel: ChildChannel
  ready: boolean
  lastBeat: number
  /** What it asked cluster to listen on. */
  target: ListenTarget
}

/**
 * node:cluster: the primary forks N workers that share one listening socket (handed out round-robin
 * by the primary with `--sched rr`, or accepted by whichever worker the kernel wakes with `none`). The
 * primary only supervises: it respawns workers that die, halts on a crash loop, relays broadcasts and
 * hosts the shared store.
 */
export class ClusterModel implements ConcurrencyModel {
  readonly name = 'cluster' as const
  private readonly hub = new PrimaryHub()
  private readonly book = new ChildBook()
  private readonly workers = new Map<number, WorkerState>()
  private readonly logger: Logger = createLogger({ model: 'cluster', role: 'primary' })
  private readonly startedAt = Date.now()
  private listeningAt: string | undefined
  private stopping = false
  private started = false
  private respawns = 0
  private stuckKilled = 0
  private crashTimes: number[] = []
  private heartbeatTimer: NodeJS.Timeout | undefined
  private restarting = false
  private boundTarget: ListenTarget | undefined
  /** Workers asked to stop by a rolling restart: their exit is expected, not a crash. */
  private readonly retiring = new Set<number>()

  constructor (private readonly options: ServeOptions) {}

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    // fail fast, in one line, before any worker exists
    await loadHandler(this.options.handlerPath)
    if ('path' in this.options.listen) await clearStaleSocket(this.options.listen.path)
    cluster.schedulingPolicy = this.options.sched === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./cluster-worker.js', import.meta.url)), serialization: 'advanced' })
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal))
    const count = this.options.workers ?? 1
    const addresses = await Promise.all(Array.from({ length: count }, async () => await this.spawn()))
    this.started = true
    this.listeningAt = addresses[0] ?? formatTarget(this.options.listen)
    const port = /:(\d+)$/.exec(this.listeningAt)?.[1]
    if ('host' in this.options.listen && port !== undefined) this.boundTarget = { host: this.options.listen.host, port: Number(port) }
    this.heartbeatTimer = watchHeartbeats(this.options.heartbeatMs ?? 0, () => this.workers.values(), (w) => w.ready && !w.worker.isDead(), (w, silentMs) => {
      this.stuckKilled++
      this.logger.warn({ worker: w.worker.process.pid, silentMs }, 'worker missed its heartbeat; killing it')
      w.ready = false
      w.worker.process.kill('SIGKILL')
    })
    return this.listeningAt
  }

  address (): string | undefined { return this.listeningAt }

  async stats (): Promise<ModelStats> {
    const ready = [...this.workers.values()].filter((w) => w.ready)
    const counters = await this.book.collect(ready.map((w) => w.channel))
    return {
      model: this.name,
      pid: process.pid,
      uptimeMs: Date.now() - this.startedAt,
      ...counters,
      extra: { workers: ready.length, workerPids: ready.map((w) => w.worker.process.pid), respawns: this.respawns, stuckKilled: this.stuckKilled, restarting: this.restarting, sched: this.options.sched ?? 'rr' },
    }
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    this.stopping = true
    clearInterval(this.heartbeatTimer)
    const states = [...this.workers.values()]
    const exits = states.map(async (s) => await new Promise<boolean>((resolve) => {
      if (s.worker.isDead()) { resolve(false); return }
      const timer = setTimeout(() => {
        this.logger.warn({ worker: s.worker.process.pid, ready: s.ready, connected: s.worker.isConnected() }, 'worker did not stop in time; killing it')
        s.worker.process.kill('SIGKILL')
        resolve(true)
      }, graceMs + 2000)
      s.worker.once('exit', () => { clearTimeout(timer); resolve(false) })
      // a worker still booting may not listen for IPC yet, and has no connections: a signal will do
      if (s.ready) send(s.channel, { t: 'shutdown', graceMs })
      else s.worker.process.kill('SIGTERM')
    }))
    const killed = (await Promise.all(exits)).filter(Boolean).length
    return { forced: this.book.forced + killed }
  }

  async restart (): Promise<number> {
    if (this.restarting || this.stopping) return 0
    this.restarting = true
    let replaced = 0
    try {
      for (const old of [...this.workers.values()].filter((w) => w.ready)) {
        if (this.stopping) break
        // the new worker serves before the old one stops taking connections: capacity never dips
        await this.spawn()
        this.retiring.add(old.worker.id)
        const exited = new Promise<void>((resolve) => old.worker.once('exit', () => resolve()))
        send(old.channel, { t: 'shutdown', graceMs: this.options.limits.graceMs })
        await exited
        replaced++
      }
    } finally {
      this.restarting = false
    }
    this.logger.info({ replaced }, 'rolling restart done')
    return replaced
  }

  /** Forks one worker and resolves with its listening address once it is serving. */
  private async spawn (): Promise<string> {
    // cluster shares one socket per requested (address, port): a new worker must ask for what the live
    // workers asked for (port 0 included) to join their socket; if none is alive, cluster has closed
    // it, and asking for the port actually bound keeps the address (port 0 would reopen elsewhere)
    const live = [...this.workers.values()].find((w) => w.ready)
    const target = live?.target ?? this.boundTarget ?? this.options.listen
    const config: ChildConfig = {
      model: 'cluster',
      handlerPath: this.options.handlerPath,
      // each worker enforces its share, so the server as a whole holds --max-connections
      limits: { ...this.options.limits, maxConnections: Math.ceil(this.options.limits.maxConnections / (this.options.workers ?? 1)) },
      listen: target,
      heartbeatMs: this.options.heartbeatMs ?? 0,
      proxyProtocol: this.options.proxyProtocol,
    }
    const worker = cluster.fork({ [CHILD_CONFIG_ENV]: JSON.stringify(config), ECHOPLEX_ROLE: 'worker' })
    const channel: ChildChannel = {
      send: (message, callback) => worker.send(message, callback),
      isConnected: () => worker.isConnected(),
    }
    const state: WorkerState = { worker, channel, ready: false, lastBeat: Date.now(), target }
    this.workers.set(worker.id, state)
    this.hub.add(channel)
    return await new Promise<string>((resolve, reject) => {
      worker.on('message', (message: ChildToPrimary) => {
        if (this.hub.handle(channel, message) || this.book.routine(message, state)) return
        switch (message.t) {
          case 'ready':
            state.ready = true
            state.lastBeat = Date.now()
            resolve(message.address ?? formatTarget(this.options.listen))
            break
          case 'boot-failed':
            reject(bootError(message, 'cluster'))
            break
        }
      })
      worker.once('exit', (code, signal) => {
        if (!state.ready) reject(errors.MODEL_FAILED('cluster', `worker ${worker.process.pid} exited while booting (${signal ?? code})`))
      })
    })
  }

  private onExit (worker: Worker, code: number, signal: string | null): void {
    const state = this.workers.get(worker.id)
    if (state === undefined) return
    this.workers.delete(worker.id)
    this.hub.remove(state.channel)
    if (this.retiring.delete(worker.id)) return
    if (this.stopping || !this.started) return
    this.logger.warn({ worker: worker.process.pid, code, signal }, 'worker died; respawning')
    const now = Date.now()
    this.crashTimes = [...this.crashTimes.filter((t) => now - t < CRASH_WINDOW_MS), now]
    if (this.crashTimes.length > CRASH_LIMIT) {
      this.halt(errors.MODEL_FAILED('cluster', `crash loop: ${this.crashTimes.length} worker deaths within ${CRASH_WINDOW_MS / 1000} s`))
      return
    }
    this.respawns++
    // a worker that cannot boot now (handler file broken since start, port gone) would fail forever
    this.spawn().catch((err: Error) => this.halt(err))
  }

  private halt (err: Error): void {
    if (this.stopping) return
    this.logger.error({ err: err.message }, 'halting')
    if (this.options.onFatal !== undefined) this.options.onFatal(err)
    else void this.stop(0)
  }
}
