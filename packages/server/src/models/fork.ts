import { existsSync, statSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { createLogger, errors } from '@echoplex/core'
import { BUILTIN_HANDLERS, builtinHandlerPath } from '@echoplex/handlers'
import type { ModelDescriptor, ModelStats, ServeOptions, StopResult } from '../model.js'
import { BaseModel } from '../model-base.js'
import { defineModel } from '../model.js'
import { heartbeatOption, recycleOptions, recyclePolicy } from './options.js'
import { listen } from '../listen.js'
import { ACCEPT_LINGER_MS } from '../connection-server.js'
import { connectionBudget } from '../descriptors.js'
import { loadHandler } from '../handler-loader.js'
import { Arbiter, type Child } from '../ipc/arbiter.js'
import { ResourceError, processSpawner } from '../ipc/spawner.js'
import { isRetryableBoot } from '../ipc/supervision.js'
import { CHILD_CONFIG_ENV, type ChildConfig } from '../ipc/protocol.js'
import { summarizeWaits } from '../wait-stats.js'
import { WaitingWatch, type GoneReason } from '../sources/waiting-watch.js'

export const DEFAULT_MAX_CHILDREN = 64
const MAX_CONCURRENT_BOOTS = Math.max(2, availableParallelism())
/** The bundled child (one CommonJS file, see fork-child-bundle.ts) when the build made it; else the module entry. */
export const FORK_CHILD_ENTRY = childEntry()
/** With reuse, extra idle children retire one per this long (httpd's idle maintenance runs once a second). */
const RETIRE_IDLE_EVERY_MS = 1000
/** Spawn waits kept for the stats (a ring: the most recent ones). */
const WAITS_KEPT = 10_000
const RETRY_SPAWN_MS = 250
/** Waiting connections closed each time a spawn fails for lack of descriptors or processes. */
const SHED_ON_EXHAUSTION = 8

/**
 * A connection child: idle (a warm spare) until it is handed a socket, then serving; with reuse it is
 * idle again once its connection closed. Retiring: asked to leave (an extra idle child), or serving
 * its last connection (recycled).
 */
type ForkState = 'idle' | 'serving' | 'retiring'
interface HandOff { acceptedAt?: number }
type ForkChild = Child<ForkState, HandOff>

interface Waiting { socket: Socket, acceptedAt: number, watch?: WaitingWatch }

/** Generous: a burst of connections waits for children booting a few at a time, and must not be cut for it. */
export const DEFAULT_WAIT_TIMEOUT_MS = 30_000

/** Connections a child serves before it exits: 1 is strict fork (Python's ForkingMixIn), 0 no limit. */
export const STRICT = 1

/**
 * One child process per connection at a time. Strict (--connections-per-child 1, the `fork` model) is
 * the seeds' `os.fork()` server: the primary accepts with `pauseOnConnect` (so it never reads a byte)
 * and hands the socket to a child that serves exactly that connection and exits. With reuse
 * (`fork-reuse`, Apache httpd's prefork) a child goes back to the idle set when its connection closes
 * and is recycled after --connections-per-child; idle children are the spares (at least --spares, at
 * most --max-spares). Children are bounded by --max-children (more connections wait their turn), libuv
 * reaps every child, and children exit when the primary's IPC channel closes, so killing the primary
 * leaves no orphans. Supervision and recycling are the Arbiter's; what is fork's own: accepting, the
 * waiting queue, hand-off, spares and the bound on children.
 */
export class ForkModel extends BaseModel {
  private readonly arbiter: Arbiter<ForkState, HandOff>
  private readonly waiting: Waiting[] = []
  private readonly waits: number[] = []
  private readonly maxChildren: number
  private readonly spares: number
  private readonly maxSpares: number
  private readonly startChildren: number
  private readonly perChild: number
  private readonly maxWaiting: number
  private readonly waitTimeoutMs: number
  private server: Server | undefined
  private stopping = false
  private graceMs = 0
  private stopRequested = false
  private shed = 0
  private prunedReset = 0
  /** Waiting connections dropped because the client left (FIN without a word, or reset) or waited too long. */
  private readonly goneWhileWaiting: Record<GoneReason, number> = { closed: 0, timeout: 0 }
  private retiredIdle = 0
  private retryTimer: NodeJS.Timeout | undefined
  private retireTimer: NodeJS.Timeout | undefined

  constructor (options: ServeOptions, readonly name: string = 'fork') {
    super(options)
    this.maxChildren = options.maxChildren ?? DEFAULT_MAX_CHILDREN
    this.waitTimeoutMs = options.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS
    this.spares = Math.min(options.spares ?? 0, this.maxChildren)
    this.maxSpares = Math.max(this.spares, options.maxSpares ?? defaultMaxSpares(this.spares))
    this.startChildren = Math.min(this.maxChildren, Math.max(1, options.startChildren ?? this.spares))
    this.perChild = options.connectionsPerChild ?? STRICT
    // each waiting connection holds a descriptor here, and so does every child's IPC channel
    this.maxWaiting = Math.max(1, connectionBudget(options.limits.maxConnections) - this.maxChildren)
    const logger = createLogger({ model: name, role: 'primary' })
    this.arbiter = new Arbiter<ForkState, HandOff>({
      model: 'fork',
      noun: 'child',
      spawner: processSpawner(FORK_CHILD_ENTRY, (pid, err) => { logger.warn({ child: pid, err: err.message }, 'child process error') }),
      logger,
      heartbeatMs: options.heartbeatMs ?? 0,
      relayBudgetBytes: options.limits.maxWriteBufferBytes,
      // broadcasts go to children with a connection (serving, or recycled while serving): a child's state
      // turns 'serving' before its socket is sent, so every broadcast relayed after the hand-off follows
      // the socket down the channel
      relaysTo: (child) => child.state === 'serving' || (child.state === 'retiring' && child.recycling !== undefined),
      readyState: 'idle',
      onFatal: options.onFatal,
      stopModel: async (graceMs) => await this.stop(graceMs),
      onSpawned: (child) => {
        child.peer.on('serving', () => this.recordWait(performance.now() - (child.data.acceptedAt ?? performance.now())))
        // reuse: its connection closed, it takes the next one
        child.peer.on('idle', (message) => {
          child.served = message.served
          // not while stopping: every child serving then is asked to drain and exit, and an `idle` it sent
          // before that request reached it must not make it look free for a waiting socket (which it
          // would close unserved)
          if (child.state === 'serving' && !this.stopping) child.state = 'idle'
          this.dispatch()
        })
      },
      // over a limit: it serves its connection to the end, then exits; a spare takes its place
      onRecycle: (child) => {
        if (child.state !== 'booting' && child.state !== 'stuck') child.state = 'retiring'
        this.dispatch()
      },
      onReady: () => this.dispatch(),
      onExit: () => this.dispatch(),
    })
  }

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    await loadHandler(this.options.handlerPath)
    // the primary never reads: bytes a client sends before the hand-off wait in the kernel for the child
    // allowHalfOpen: a client's FIN seen while it waits must not end our side (see WaitingWatch)
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.onConnection(socket))
    this.listeningAt = await listen(this.server, this.options.listen)
    // accept failures (EMFILE): libuv sheds the connection; log and keep serving
    this.server.on('error', (err: NodeJS.ErrnoException) => { this.arbiter.logger.error({ code: err.code }, 'accept failed; still serving') })
    // start serving once the first children (--start-children, by default the spares) are warm, so the
    // first connections do not pay for a boot; with none asked one child still boots first: it proves
    // the handler loads in a child, then serves the first connection. All at once: while they boot,
    // dispatch (a child became ready) counts them booting and starts no more
    await Promise.all(Array.from({ length: this.startChildren }, async () => await this.spawn()))
    this.arbiter.watch()
    if (this.perChild !== STRICT) {
      this.retireTimer = setInterval(() => this.retireExtraIdle(), RETIRE_IDLE_EVERY_MS)
      this.retireTimer.unref()
    }
    return this.listeningAt
  }

  async stats (): Promise<ModelStats> {
    const { arbiter } = this
    const serving = arbiter.count('serving') + arbiter.count('retiring')
    // with reuse, idle children have served connections too
    const counters = await arbiter.collect((c) => c.state !== 'booting' && c.state !== 'stuck')
    counters.connectionsActive = serving
    return this.envelope(counters, {
      children: arbiter.children.size,
      serving,
      spares: arbiter.count('idle'),
      connectionsPerChild: this.perChild,
      minSpares: this.spares,
      maxSpares: this.maxSpares,
      startChildren: this.startChildren,
      retiredIdle: this.retiredIdle,
      recycled: { ...arbiter.recycled },
      perChild: arbiter.perChild(),
      booting: arbiter.count('booting'),
      waiting: this.waiting.length,
      shedOnExhaustion: this.shed,
      prunedReset: this.prunedReset,
      droppedClosedWaiting: this.goneWhileWaiting.closed,
      waitTimeouts: this.goneWhileWaiting.timeout,
      maxChildren: this.maxChildren,
      spawned: arbiter.spawned,
      reaped: arbiter.reaped,
      killedStuck: arbiter.stuckKilled,
      relayDropped: arbiter.hub.dropped,
      spawnWaitMs: summarizeWaits(this.waits),
    })
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    if (this.stopRequested) return { forced: 0 }
    this.stopRequested = true
    // serve normally a moment longer: connections the kernel already completed would be reset by
    // close() (see ACCEPT_LINGER_MS)
    await new Promise((resolve) => setTimeout(resolve, ACCEPT_LINGER_MS))
    this.stopping = true
    this.graceMs = graceMs
    clearInterval(this.retireTimer)
    this.server?.close()
    // connections still waiting are served within the grace period, not cut by --wait-timeout
    for (const w of this.waiting) w.watch?.cancelTimeout()
    // connections still waiting are accepted ones: they are still handed over and drained while the
    // grace period lasts; serving children drain (answer what they received, then close); the others
    // are no longer wanted once nothing waits (dispatch ends them)
    this.dispatch()
    const killed = await this.arbiter.stop(graceMs, {
      ask: (child) => { if (child.state === 'serving' || child.state === 'retiring') child.peer.send({ type: 'shutdown', graceMs }) },
      busy: () => this.waiting.length > 0,
    })
    const dropped = this.waiting.splice(0)
    for (const w of dropped) w.socket.destroy()
    return { forced: this.arbiter.book.forced + killed.filter((c) => c.state === 'serving' || (c.state === 'retiring' && c.recycling !== undefined)).length + dropped.length }
  }

  private onConnection (socket: Socket): void {
    socket.on('error', () => {}) // a reset while waiting only ends that connection
    if (this.stopping || this.waiting.length >= this.maxWaiting) { socket.destroy(); return }
    const waiting: Waiting = { socket, acceptedAt: performance.now() }
    this.waiting.push(waiting)
    this.arbiter.logger.debug({ waiting: this.waiting.length, children: this.arbiter.children.size }, 'connection accepted')
    this.dispatch()
    // no child took it at once: watch it while it waits (a client that leaves, or waits too long, is
    // dropped before a child boots for it)
    if (this.waiting.includes(waiting)) waiting.watch = new WaitingWatch(socket, this.waitTimeoutMs, (why) => this.dropWaiting(waiting, why))
  }

  private dropWaiting (waiting: Waiting, why: GoneReason): void {
    const at = this.waiting.indexOf(waiting)
    if (at === -1) return
    this.waiting.splice(at, 1)
    waiting.socket.destroy()
    this.goneWhileWaiting[why]++
    this.arbiter.logger.debug({ why, waitedMs: Math.round(performance.now() - waiting.acceptedAt) }, 'dropped a waiting connection')
  }

  /** Hands waiting connections to idle children, and starts children for the rest and the spares. */
  private dispatch (): void {
    const { arbiter } = this
    this.pruneReset(MAX_CONCURRENT_BOOTS + arbiter.count('idle'))
    for (const child of arbiter.children.values()) {
      if (this.waiting.length === 0) break
      if (child.state === 'idle') this.handOff(child, this.waiting.shift()!)
    }
    // while stopping, spares are no longer wanted: children are started only for connections still waiting
    const spares = this.stopping ? 0 : this.spares
    if (this.stopping && this.waiting.length === 0) {
      for (const child of arbiter.children.values()) if (child.state === 'idle' || child.state === 'booting') child.process.kill('SIGTERM')
      return
    }
    const booting = arbiter.count('booting')
    const wanted = this.waiting.length + spares - booting - arbiter.count('idle')
    const room = this.maxChildren - arbiter.children.size
    // boots compete for the same cores: a few at a time serve the first waiting connection sooner than all at once
    const bootSlots = MAX_CONCURRENT_BOOTS - booting
    for (let i = 0; i < Math.min(wanted, room, bootSlots); i++) {
      this.spawn().catch((err: Error) => this.spawnFailed(err))
    }
  }

  /**
   * Drops connections at the head of the queue that the client has already reset, before a child
   * boots for them. The primary never reads, so it cannot see a FIN; a reset it can, without reading:
   * the kernel no longer has a peer for the socket (getpeername fails).
   */
  private pruneReset (look: number): void {
    let kept = 0
    for (let i = 0; i < this.waiting.length && kept < look;) {
      const { socket } = this.waiting[i]!
      const handle = (socket as unknown as { _handle?: { getpeername?: (out: object) => number } })._handle
      const gone = socket.destroyed || (handle?.getpeername !== undefined && handle.getpeername({}) !== 0)
      if (gone) {
        this.waiting.splice(i, 1)
        socket.destroy()
        this.prunedReset++
      } else {
        kept++
        i++
      }
    }
  }

  private handOff (child: ForkChild, { socket, acceptedAt, watch }: Waiting): void {
    if (socket.destroyed) return
    // what the client said while it waited goes along, to be served before what the child reads itself
    const preread = watch?.release()
    child.state = 'serving'
    child.data.acceptedAt = acceptedAt
    this.arbiter.logger.debug({ child: child.pid }, 'handing off a connection')
    // the handle moves to the child: once it is there, the primary's copy is closed (keepOpen false)
    child.peer.send({ type: 'socket', acceptedAt, ...(preread === undefined ? {} : { preread }) }, socket, (err) => {
      if (err !== null) {
        this.arbiter.logger.warn({ child: child.pid, err: err.message }, 'hand-off failed')
        socket.destroy()
        child.process.kill('SIGKILL')
      }
    })
    if (this.stopping) child.peer.send({ type: 'shutdown', graceMs: this.graceMs })
  }

  /**
   * With reuse, idle children are the spares: above --max-spares one retires per tick, so a burst's
   * children leave gradually and a churn of reconnecting clients does not make them boot again.
   */
  private retireExtraIdle (): void {
    if (this.stopping || this.waiting.length > 0 || this.arbiter.count('idle') <= this.maxSpares) return
    const child = [...this.arbiter.children.values()].find((c) => c.state === 'idle')
    if (child === undefined) return
    child.state = 'retiring'
    this.retiredIdle++
    child.peer.send({ type: 'shutdown', graceMs: 0 })
  }

  /** Starts a child; resolves when it is idle and ready for a socket. */
  private async spawn (): Promise<ForkChild> {
    return await this.arbiter.spawn(forkChildEnvironment(this.options), {})
  }

  /**
   * A child that reports its handler cannot load will never boot: halt. A refused spawn or a child
   * that died while booting is retried shortly, and halts only as a crash loop.
   */
  private spawnFailed (err: Error): void {
    if (this.stopping) return
    const { arbiter } = this
    if (!isRetryableBoot(err)) { arbiter.halt(err); return }
    const crashLoop = arbiter.crashes.record()
    if (err instanceof ResourceError && this.waiting.length > 0) {
      // waiting sockets hold the descriptors a new child needs: shed the newest so the oldest can be served
      const shed = this.waiting.splice(-Math.min(this.waiting.length, SHED_ON_EXHAUSTION))
      for (const w of shed) w.socket.destroy()
      this.shed += shed.length
    }
    arbiter.logger.warn({ err: err.message, recent: arbiter.crashes.recent, shed: this.shed }, 'could not start a child; retrying')
    if (!(err instanceof ResourceError) && crashLoop) {
      arbiter.halt(errors.MODEL_FAILED('fork', `crash loop: ${arbiter.crashes.recent} children died while booting within ${arbiter.crashes.windowMs / 1000} s (${err.message})`))
      return
    }
    if (this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.dispatch() }, RETRY_SPAWN_MS)
      this.retryTimer.unref()
    }
  }

  private recordWait (ms: number): void {
    if (this.waits.length >= WAITS_KEPT) this.waits.shift()
    this.waits.push(ms)
  }
}

/**
 * What a fork child is started with, added to the primary's environment (its config, and its role
 * until it serves): also how `echoplex boot-cost` boots one exactly as the model does.
 */
export function forkChildEnvironment (options: Pick<ServeOptions, 'handlerPath' | 'limits' | 'heartbeatMs' | 'connectionsPerChild' | 'maxRequests' | 'maxRequestsJitter' | 'maxMemory' | 'proxyProtocol' | 'maxChildren'>): Record<string, string> {
  const config: ChildConfig = {
    model: 'fork',
    handlerPath: options.handlerPath,
    // a child holds one connection at a time: its share of the partial-message budget is the budget over --max-children
    limits: { ...options.limits, maxBufferedBytes: Math.ceil(options.limits.maxBufferedBytes / (options.maxChildren ?? DEFAULT_MAX_CHILDREN)) },
    heartbeatMs: options.heartbeatMs ?? 0,
    connectionsPerChild: options.connectionsPerChild ?? STRICT,
    recycle: recyclePolicy(options),
    // a built-in handler is compiled into the bundled child: it need not import the file
    builtinHandler: BUILTIN_HANDLERS.find((h) => builtinHandlerPath(h) === options.handlerPath),
    // `serve --proxy-protocol`: the child reads each connection's header itself
    proxyProtocol: options.proxyProtocol,
  }
  return { [CHILD_CONFIG_ENV]: JSON.stringify(config), ECHOPLEX_ROLE: 'spare' }
}

/**
 * The bundled child when it exists and is no older than the code it bundles (a `tsc -b` without the
 * bundling step leaves a stale one: the module entry is then the right one), else the module entry.
 */
function childEntry (): string {
  const bundled = fileURLToPath(new URL('./fork-child.cjs', import.meta.url))
  const modules = fileURLToPath(new URL('./fork-child.js', import.meta.url))
  const source = fileURLToPath(new URL('./fork-child-run.js', import.meta.url))
  try {
    return existsSync(bundled) && statSync(bundled).mtimeMs >= statSync(source).mtimeMs ? bundled : modules
  } catch {
    return modules
  }
}

/** httpd's MaxSpareServers against MinSpareServers: room above the minimum, so idle children do not retire and boot in turns. */
function defaultMaxSpares (spares: number): number {
  return spares + Math.max(spares, 4)
}

/** The two faces of the fork model: strict (a child per connection) and reuse (httpd prefork). */
function forkDescriptor (name: string, summary: string, perChildDefault: number, sparesAtLeastClients: boolean): ModelDescriptor {
  return defineModel({
    name,
    summary,
    create: async (options) => new ForkModel(options, name),
    options: [
      { flags: '--max-children <n>', key: 'maxChildren', description: 'most connection children at once; more connections wait to be accepted', value: { kind: 'integer', min: 1, max: 100_000 }, default: DEFAULT_MAX_CHILDREN },
      { flags: '--wait-timeout <duration>', key: 'waitTimeoutMs', description: 'a connection waiting this long for a child is closed (0 disables)', value: { kind: 'duration' }, default: DEFAULT_WAIT_TIMEOUT_MS },
      { flags: '--spares <n>', key: 'spares', description: 'warm children started ahead of connections (with reuse: the fewest idle children)', value: { kind: 'integer', min: 0, max: 1024 }, default: 0 },
      { flags: '--max-spares <n>', key: 'maxSpares', description: 'with reuse, idle children above this many retire, one a second', value: { kind: 'integer', min: 0, max: 100_000 }, defaultDescription: '--spares + max(--spares, 4)' },
      { flags: '--start-children <n>', key: 'startChildren', description: 'children booted before serving starts (httpd StartServers)', value: { kind: 'integer', min: 1, max: 100_000 }, defaultDescription: '--spares, at least 1' },
      { flags: '--connections-per-child <n>', key: 'connectionsPerChild', description: 'connections a child serves, one at a time, before it is recycled (1: a fresh child per connection; 0: no limit)', value: { kind: 'integer', min: 0, max: 1_000_000_000 }, default: perChildDefault },
      ...recycleOptions('child'),
      heartbeatOption('a child silent this long is killed'),
    ],
    roles: ['primary', 'spare', 'connection'],
    rollingRestart: false,
    bench: {
      workers: false,
      spares: true,
      // room for every client twice over (churn reconnects before the old child is reaped). With reuse,
      // idle children are the spares, at least one per client (an httpd sized for its load), and the
      // steady state is a child per client serving plus those spares: all of them boot before the run
      // (--start-children), so no boot falls in the measured window
      serveArgs: ({ spares }, connections) => {
        const wanted = sparesAtLeastClients ? Math.max(spares ?? 0, connections) : (spares ?? 0)
        const maxChildren = Math.max(64, connections * 2 + wanted)
        const start = sparesAtLeastClients ? ['--start-children', String(Math.min(maxChildren, connections + wanted))] : []
        return ['--spares', String(wanted), '--max-children', String(maxChildren), ...start]
      },
    },
    suites: {
      // a Node child boots in ~0.1 s of CPU: warm spares keep the tests from waiting on boots
      conformanceArgs: ['--spares', '4'],
      faultArgs: ['--spares', '2', '--max-children', '8', '--wait-timeout', '8s'],
      faultMaxConnections: 16,
      faultStormSize: 40,
      // its queue (dead connections too: each still costs a child boot) has been worked off
      settled: (stats) => stats.extra.waiting === 0,
      onHandlerExit: 'its connection child exited',
      onStuckHandler: 'its connection child missed its heartbeat (1.5 s) and was killed; only its connection closed',
      killable: { role: 'connection', what: 'a connection child', outcome: 'only its connection closed' },
      sharesProcessesAcrossConnections: false,
      heartbeatKills: (stats) => stats.extra.killedStuck as number,
      droppedWhileWaiting: (stats) => stats.extra.droppedClosedWaiting as number,
    },
  })
}

export const forkReuse = forkDescriptor('fork-reuse',
  'httpd prefork: a child process serves one connection at a time and is reused for the next (recycled after --connections-per-child)',
  0, true)

export default forkDescriptor('fork',
  'a fresh child process per connection (Python ForkingMixIn): the primary accepts and hands each socket over',
  STRICT, false)
