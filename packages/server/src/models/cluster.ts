import cluster from 'node:cluster'
import { fileURLToPath } from 'node:url'
import { createLogger, errors } from '@echoplex/core'
import type { ListenTarget, ModelStats, StopResult } from '../model.js'
import { BaseModel } from '../model-base.js'
import { defineModel } from '../model.js'
import { heartbeatOption, recycleOptions, recyclePolicy, workersOption } from './options.js'
import { clearStaleSocket, formatTarget, pickFreePort } from '../listen.js'
import { loadHandler } from '../handler-loader.js'
import { Arbiter, type Child } from '../ipc/arbiter.js'
import { clusterSpawner } from '../ipc/spawner.js'
import { CHILD_CONFIG_ENV, type ChildConfig } from '../ipc/protocol.js'
import { RespawnBackoff, isRetryableBoot } from '../ipc/supervision.js'
import { PortShares, reusePortUnavailable, type PortShare } from '../sources/reuse-port.js'

/** After a worker failed to boot for a reason worth retrying, how long before the next try. */
const RETRY_BOOT_MS = 250

/** What a worker asked cluster to listen on; with reuseport, the socket it took over, if any. */
interface WorkerData { target: ListenTarget, share?: PortShare }

/** A worker; retiring once it is being replaced (recycled). */
type Worker = Child<'ready' | 'retiring', WorkerData>

/** Who spreads connections over the workers. */
export type Sched = 'rr' | 'none' | 'reuseport'

/**
 * node:cluster: the primary forks N workers that serve one port: with `--sched reuseport` each worker
 * binds a socket of its own to it (SO_REUSEPORT) and the kernel spreads new connections over them —
 * nothing passes through the primary; with `rr` the primary accepts every connection and hands it
 * to a worker over IPC (cluster's round-robin handle); with `none` the workers share the primary's one
 * socket and whichever the kernel wakes accepts. reuseport is the default where the running Node
 * supports it (probed, see reuse-port.ts), rr elsewhere. The primary only supervises (the Arbiter):
 * it respawns workers that die, halts on a crash loop, relays broadcasts and hosts the shared store.
 * What is cluster's own: the listening arrangement, respawning, and the rolling restart.
 */
export class ClusterModel extends BaseModel {
  readonly name = 'cluster' as const
  private arbiter: Arbiter<'ready' | 'retiring', WorkerData> | undefined
  private started = false
  private respawns = 0
  private restarting = false
  private boundTarget: ListenTarget | undefined
  private sched: Sched = 'rr'
  /** Workers asked to stop by a rolling restart: their exit is expected, not a crash. */
  private readonly retiring = new Set<number>()
  /** Runtime deaths are replaced with backoff, never counted as a crash loop. */
  private readonly backoff = new RespawnBackoff()
  private readonly respawnTimers = new Set<NodeJS.Timeout>()
  /** reuseport: the primary's copy of each worker's socket, handed to whichever worker replaces it */
  private readonly shares = new PortShares()

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    // fail fast, in one line, before any worker exists
    await loadHandler(this.options.handlerPath)
    if ('path' in this.options.listen) await clearStaleSocket(this.options.listen.path)
    const logger = createLogger({ model: 'cluster', role: 'primary' })
    this.sched = await this.chooseSched()
    // rr and none: every worker, the replacements too, must ask cluster for the same port to share
    // one socket (workers that asked for 0 share one only while one of them lives)
    if (this.sched !== 'reuseport' && 'host' in this.options.listen && this.options.listen.port === 0) {
      this.boundTarget = { host: this.options.listen.host, port: await pickFreePort(this.options.listen.host) }
    }
    cluster.schedulingPolicy = this.sched === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR
    this.arbiter = new Arbiter<'ready' | 'retiring', WorkerData>({
      model: 'cluster',
      noun: 'worker',
      spawner: clusterSpawner(fileURLToPath(new URL('./cluster-worker.js', import.meta.url))),
      logger,
      heartbeatMs: this.options.heartbeatMs ?? 0,
      relayBudgetBytes: this.options.limits.maxWriteBufferBytes,
      readyState: 'ready',
      onFatal: this.options.onFatal,
      stopModel: async (graceMs) => await this.stop(graceMs),
      onSpawned: (worker) => {
        const { share } = worker.data
        // a replacement takes over a socket: it listens on it before it says ready
        if (share !== undefined) {
          this.shares.keep(worker.pid, share)
          worker.peer.send({ type: 'port-share' }, share)
        }
        worker.peer.on('port-share', (_message, handle) => { if (handle !== undefined) this.shares.keep(worker.pid, handle as PortShare) })
      },
      onExit: (worker, code, signal) => this.onExit(worker, code, signal),
      onRecycle: (worker) => { void this.replace(worker) },
    })
    const count = this.options.workers ?? 1
    // reuseport: the first worker learns the port (it may be 0), the others bind that one
    const first = this.sched === 'reuseport' ? [await this.spawn()] : []
    if (first[0] !== undefined) this.learnPort(first[0])
    const addresses = [...first, ...await Promise.all(Array.from({ length: count - first.length }, async () => await this.spawn()))]
    this.started = true
    this.listeningAt = addresses[0] ?? formatTarget(this.options.listen)
    this.learnPort(this.listeningAt)
    this.arbiter.watch()
    return this.listeningAt
  }

  async stats (): Promise<ModelStats> {
    const arbiter = this.arbiter!
    const ready = (w: Worker): boolean => w.state === 'ready'
    const counters = await arbiter.collect(ready)
    const workers = [...arbiter.children.values()].filter(ready)
    return this.envelope(counters, { workers: workers.length, workerPids: workers.map((w) => w.pid), respawns: this.respawns, stuckKilled: arbiter.stuckKilled, exitHangKilled: arbiter.exitHangKilled, countersLost: arbiter.countersLost, relayDropped: arbiter.hub.dropped, restarting: this.restarting, sched: this.sched, recycled: { ...arbiter.recycled }, perChild: arbiter.perChild() })
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    if (this.arbiter === undefined) return { forced: 0 }
    for (const timer of this.respawnTimers) clearTimeout(timer)
    this.respawnTimers.clear()
    const killed = await this.arbiter.stop(graceMs)
    this.shares.closeAll()
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
        if (old.state !== 'ready') continue // recycled meanwhile
        await this.replace(old)
        replaced++
      }
    } finally {
      this.restarting = false
    }
    arbiter.logger.info({ replaced }, 'rolling restart done')
    return replaced
  }

  /**
   * The policy asked for, or the default: reuseport where this Node can share a port between
   * listeners, else rr with a one-line note. reuseport asked for where it cannot work is a usage error.
   */
  private async chooseSched (): Promise<Sched> {
    const asked = this.options.sched
    if (asked === 'rr' || asked === 'none') return asked
    const why = 'path' in this.options.listen ? 'a UNIX socket has no SO_REUSEPORT balancing' : await reusePortUnavailable()
    if (why === undefined) return 'reuseport'
    if (asked === 'reuseport') throw errors.REUSEPORT_UNSUPPORTED(why)
    // one line, as the CLI's notes: which policy serves, and why not the default
    process.stderr.write(`echoplex: note: cluster uses --sched rr; reuseport (the default where supported) is not available: ${why}\n`)
    return 'rr'
  }

  private learnPort (address: string): void {
    const port = /:(\d+)$/.exec(address)?.[1]
    if ('host' in this.options.listen && port !== undefined) this.boundTarget = { host: this.options.listen.host, port: Number(port) }
  }

  /**
   * Replaces one worker with no dip in capacity (a rolling restart's step, and recycling): the new
   * worker serves before the old one stops taking connections; resolves once the old one has exited.
   */
  private async replace (old: Worker): Promise<void> {
    const arbiter = this.arbiter!
    if (old.state !== 'ready' || arbiter.stopping) return
    old.state = 'retiring'
    // reuseport: the new worker listens on the old one's socket, so closing it resets nothing
    const share = this.shares.handOver(old.pid)
    try {
      await this.spawn(share)
    } catch (err) {
      // the old worker still serves; a worker that cannot boot now never will (see onExit)
      if (share !== undefined) this.shares.keep(old.pid, share)
      arbiter.halt(err as Error)
      return
    }
    this.retiring.add(old.pid)
    const exited = new Promise<void>((resolve) => old.process.onExit(() => resolve()))
    old.peer.send({ type: 'shutdown', graceMs: this.options.limits.graceMs })
    await exited
  }

  /**
   * Forks one worker and resolves with its listening address once it is serving. reuseport: on `share`
   * (the socket of the worker it replaces), else on one a dead worker left, else a socket of its own.
   */
  private async spawn (share?: PortShare): Promise<string> {
    const arbiter = this.arbiter!
    // cluster shares one socket per requested (address, port): a new worker must ask for what the live
    // workers asked for (port 0 included) to join their socket; if none is alive, cluster has closed
    // it, and asking for the port actually bound keeps the address (port 0 would reopen elsewhere)
    // (a worker being replaced still listens until it is asked to stop: it counts as live)
    const listening = [...arbiter.children.values()].filter((w) => w.state === 'ready' || (w.state === 'retiring' && !this.retiring.has(w.pid)))
    const live = listening.find((w) => w.state === 'ready') ?? listening[0]
    // reuseport: every worker binds the port actually bound (its own socket; nothing to join)
    const target = this.sched === 'reuseport' ? this.boundTarget ?? this.options.listen : live?.data.target ?? this.boundTarget ?? this.options.listen
    const taken = this.sched === 'reuseport' ? share ?? this.shares.takeVacant() : undefined
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
      reusePort: this.sched === 'reuseport',
      portShare: taken !== undefined,
      heartbeatMs: this.options.heartbeatMs ?? 0,
      recycle: recyclePolicy(this.options),
      proxyProtocol: this.options.proxyProtocol,
    }
    let worker: Worker
    try {
      worker = await arbiter.spawn({ [CHILD_CONFIG_ENV]: JSON.stringify(config), ECHOPLEX_ROLE: 'worker' }, { target, share: taken })
    } catch (err) {
      if (taken !== undefined) this.shares.restore(taken)
      throw err
    }
    return worker.address ?? formatTarget(this.options.listen)
  }

  /**
   * A worker that died after it was serving is replaced (a handler's process.exit or an uncaught
   * throw: something a client can cause, so never a reason to halt), with backoff when deaths come
   * fast. Only workers that cannot boot count towards the crash loop.
   */
  private onExit (worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    const arbiter = this.arbiter!
    // its socket, if it still had one (it died, or never booted), waits for the next worker
    this.shares.vacate(worker.pid)
    // replaced on purpose (restart, recycling), or recycled and its replacement already on its way
    if (this.retiring.delete(worker.pid) || worker.state === 'retiring') return
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
    {
      flags: '--sched <policy>',
      key: 'sched',
      description: 'who spreads connections: reuseport = each worker its own SO_REUSEPORT socket, the kernel balances; rr = the primary accepts and hands out round-robin; none = workers share one socket',
      value: { kind: 'choice', choices: ['reuseport', 'rr', 'none'] },
      defaultDescription: `reuseport where the running Node supports it, probed at start (Node ≥ 22.12; this is ${process.version}), else rr with a one-line note`,
    },
    ...recycleOptions('worker'),
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
    variants: [{ name: 'reuseport', args: ['--sched', 'reuseport'], unavailable: reusePortUnavailable }],
  },
})
