import cluster from 'node:cluster'
import { fileURLToPath } from 'node:url'
import { createLogger, errors } from '@echoplex/core'
import type { ListenTarget, ModelStats, StopResult } from '../model.js'
import { BaseModel } from '../model-base.js'
import { defineModel } from '../model.js'
import { heartbeatOption, workersOption } from './options.js'
import { clearStaleSocket, formatTarget, pickFreePort } from '../listen.js'
import { loadHandler } from '../handler-loader.js'
import { Arbiter, type Child } from '../ipc/arbiter.js'
import { clusterSpawner } from '../ipc/spawner.js'
import { CHILD_CONFIG_ENV, type ChildConfig } from '../ipc/protocol.js'
import { RespawnBackoff, isRetryableBoot } from '../ipc/supervision.js'

/** After a worker failed to boot for a reason worth retrying, how long before the next try. */
const RETRY_BOOT_MS = 250

/** A worker, and what it asked cluster to listen on. */
type Worker = Child<'ready', ListenTarget>

/**
 * node:cluster: the primary forks N workers that share one listening socket (handed out round-robin
 * by the primary with `--sched rr`, or accepted by whichever worker the kernel wakes with `none`). The
 * primary only supervises (the Arbiter): it respawns workers that die, halts on a crash loop, relays
 * broadcasts and hosts the shared store. What is cluster's own: the shared handle, respawning, and the
 * rolling restart.
 */
export class ClusterModel extends BaseModel {
  readonly name = 'cluster' as const
  private arbiter: Arbiter<'ready', ListenTarget> | undefined
  private started = false
  private respawns = 0
  private restarting = false
  private boundTarget: ListenTarget | undefined
  /** Workers asked to stop by a rolling restart: their exit is expected, not a crash. */
  private readonly retiring = new Set<number>()
  /** Runtime deaths are replaced with backoff, never counted as a crash loop. */
  private readonly backoff = new RespawnBackoff()
  private readonly respawnTimers = new Set<NodeJS.Timeout>()

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    // fail fast, in one line, before any worker exists
    await loadHandler(this.options.handlerPath)
    if ('path' in this.options.listen) await clearStaleSocket(this.options.listen.path)
    // every worker, the replacements too, must ask cluster for the same port to share one socket
    if ('host' in this.options.listen && this.options.listen.port === 0) {
      this.boundTarget = { host: this.options.listen.host, port: await pickFreePort(this.options.listen.host) }
    }
    cluster.schedulingPolicy = this.options.sched === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR
    this.arbiter = new Arbiter({
      model: 'cluster',
      noun: 'worker',
      spawner: clusterSpawner(fileURLToPath(new URL('./cluster-worker.js', import.meta.url))),
      logger: createLogger({ model: 'cluster', role: 'primary' }),
      heartbeatMs: this.options.heartbeatMs ?? 0,
      relayBudgetBytes: this.options.limits.maxWriteBufferBytes,
      readyState: 'ready',
      onFatal: this.options.onFatal,
      stopModel: async (graceMs) => await this.stop(graceMs),
      onExit: (worker, code, signal) => this.onExit(worker, code, signal),
    })
    const count = this.options.workers ?? 1
    const addresses = await Promise.all(Array.from({ length: count }, async () => await this.spawn()))
    this.started = true
    this.listeningAt = addresses[0] ?? formatTarget(this.options.listen)
    const port = /:(\d+)$/.exec(this.listeningAt)?.[1]
    if ('host' in this.options.listen && port !== undefined) this.boundTarget = { host: this.options.listen.host, port: Number(port) }
    this.arbiter.watch()
    return this.listeningAt
  }

  async stats (): Promise<ModelStats> {
    const arbiter = this.arbiter!
    const ready = (w: Worker): boolean => w.state === 'ready'
    const counters = await arbiter.collect(ready)
    const workers = [...arbiter.children.values()].filter(ready)
    return this.envelope(counters, { workers: workers.length, workerPids: workers.map((w) => w.pid), respawns: this.respawns, stuckKilled: arbiter.stuckKilled, relayDropped: arbiter.hub.dropped, restarting: this.restarting, sched: this.options.sched ?? 'rr' })
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    if (this.arbiter === undefined) return { forced: 0 }
    for (const timer of this.respawnTimers) clearTimeout(timer)
    this.respawnTimers.clear()
    const killed = await this.arbiter.stop(graceMs)
    return { forced: this.arbiter.book.forced + killed.length }
  }

  async restart (): Promise<number> {
    const arbiter = this.arbiter
    if (arbiter === undefined || this.restarting || arbiter.stopping) return 0
    this.restarting = true
    let replaced = 0
    try {
      for (const old of [...arbiter.children.values()].filter((w) => w.state === 'ready')) {
        if (arbiter.stopping) break
        // the new worker serves before the old one stops taking connections: capacity never dips
        await this.spawn()
        this.retiring.add(old.pid)
        const exited = new Promise<void>((resolve) => old.process.onExit(() => resolve()))
        old.peer.send({ type: 'shutdown', graceMs: this.options.limits.graceMs })
        await exited
        replaced++
      }
    } finally {
      this.restarting = false
    }
    arbiter.logger.info({ replaced }, 'rolling restart done')
    return replaced
  }

  /** Forks one worker and resolves with its listening address once it is serving. */
  private async spawn (): Promise<string> {
    const arbiter = this.arbiter!
    // cluster shares one socket per requested (address, port): a new worker must ask for what the live
    // workers asked for (port 0 included) to join their socket; if none is alive, cluster has closed
    // it, and asking for the port actually bound keeps the address (port 0 would reopen elsewhere)
    const live = [...arbiter.children.values()].find((w) => w.state === 'ready')
    const target = live?.data ?? this.boundTarget ?? this.options.listen
    const config: ChildConfig = {
      model: 'cluster',
      handlerPath: this.options.handlerPath,
      // each worker enforces its share, so the server as a whole holds --max-connections
      limits: {
        ...this.options.limits,
        maxConnections: Math.ceil(this.options.limits.maxConnections / (this.options.workers ?? 1)),
        maxBufferedBytes: Math.ceil(this.options.limits.maxBufferedBytes / (this.options.workers ?? 1)),
      },
      listen: target,
      heartbeatMs: this.options.heartbeatMs ?? 0,
    }
    const worker = await arbiter.spawn({ [CHILD_CONFIG_ENV]: JSON.stringify(config), ECHOPLEX_ROLE: 'worker' }, target)
    return worker.address ?? formatTarget(this.options.listen)
  }

  /**
   * A worker that died after it was serving is replaced (a handler's process.exit or an uncaught
   * throw: something a client can cause, so never a reason to halt), with backoff when deaths come
   * fast. Only workers that cannot boot count towards the crash loop.
   */
  private onExit (worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    const arbiter = this.arbiter!
    if (this.retiring.delete(worker.pid)) return
    if (arbiter.stopping || !this.started || worker.state === 'booting') return
    // with no worker left, cluster has closed the shared socket (connections are refused): replace at once
    const othersServing = [...arbiter.children.values()].some((w) => w.state === 'ready')
    const backoffMs = this.backoff.next()
    const delayMs = othersServing ? backoffMs : 0
    arbiter.logger.warn({ worker: worker.pid, code, signal, delayMs }, 'worker died; respawning')
    this.respawns++
    this.respawnLater(delayMs)
  }

  private respawnLater (delayMs: number): void {
    const respawn = (): void => {
      if (this.arbiter!.stopping) return
      this.spawn().catch((err: Error) => this.bootFailed(err))
    }
    if (delayMs <= 0) { respawn(); return }
    const timer = setTimeout(() => { this.respawnTimers.delete(timer); respawn() }, delayMs)
    this.respawnTimers.add(timer)
  }

  /**
   * A replacement that could not boot: a handler that no longer loads never will (halt); a worker that
   * died while booting, or a process the OS refused, is retried, and halts only as a crash loop.
   */
  private bootFailed (err: Error): void {
    const arbiter = this.arbiter!
    if (arbiter.stopping) return
    if (!isRetryableBoot(err)) { arbiter.halt(err); return }
    if (arbiter.crashes.record()) {
      arbiter.halt(errors.MODEL_FAILED('cluster', `crash loop: ${arbiter.crashes.recent} workers failed to boot within ${arbiter.crashes.windowMs / 1000} s (${err.message})`))
      return
    }
    arbiter.logger.warn({ err: err.message, recent: arbiter.crashes.recent }, 'a worker failed to boot; retrying')
    this.respawnLater(RETRY_BOOT_MS)
  }
}

export default defineModel({
  name: 'cluster',
  summary: 'node:cluster: a primary and N worker processes sharing the listening socket',
  create: async (options) => new ClusterModel(options),
  options: [
    workersOption('worker processes'),
    { flags: '--sched <policy>', key: 'sched', description: 'scheduling policy (rr = primary round-robin, none = kernel)', value: { kind: 'choice', choices: ['rr', 'none'] }, default: 'rr' },
    heartbeatOption('a worker silent this long is replaced'),
  ],
  roles: ['primary', 'worker'],
  rollingRestart: true,
  bench: { workers: true, spares: false },
  suites: {
    conformanceArgs: ['--workers', '2'],
    faultArgs: ['--workers', '2'],
    settled: (stats) => stats.extra.workers === 2,
    onHandlerExit: 'its worker exited and was respawned',
    onStuckHandler: 'its worker missed its heartbeat (1.5 s), was killed and respawned; only its connection closed (with the others on that worker)',
    killable: { role: 'worker', what: 'a worker', outcome: 'a new worker took its place' },
    sharesProcessesAcrossConnections: true,
    heartbeatKills: (stats) => stats.extra.stuckKilled as number,
  },
})
