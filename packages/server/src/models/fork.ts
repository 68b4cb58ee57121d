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
import { lingerAccepting } from '../connection-server.js'
import { connectionBudget } from '../descriptors.js'
import { loadHandler, needsModuleHooks } from '../handler-loader.js'
import { Arbiter, type Child } from '../ipc/arbiter.js'
import { ResourceError, childForkOptions, processSpawner, type ChildStart, type Spawner } from '../ipc/spawner.js'
import { Zygote } from '../ipc/zygote.js'
import { isRetryableBoot } from '../ipc/supervision.js'
import { CHILD_CONFIG_ENV, type ChildConfig } from '../ipc/protocol.js'
import { summarizeWaits } from '../wait-stats.js'
import { WaitingWatch, type GoneReason } from '../sources/waiting-watch.js'
import { ACCEPT_POLL_MS, buildKernelAccept, loadKernelAccept, type KernelAcceptAddon } from '../sources/kernel-accept.js'
import { ForkScoreboard, SLOT_IDLE, SLOT_PARKED, SLOT_SERVING } from './fork-scoreboard.js'
import { CHILD_BOOT_CHOICES, buildChildSnapshot, writesProfiles, type ChildBoot } from './fork-snapshot.js'

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
 * With kernel accept, how often the primary reads the scoreboard and the accept queue: connections
 * that waited this long while no child took any start more children.
 */
const BOARD_POLL_MS = 20
/** With kernel accept, the descriptors a child inherits (see processSpawner): the listening socket, then the scoreboard. */
const CHILD_LISTEN_FD = 4
const CHILD_BOARD_FD = 5
/**
 * With kernel accept, the fewest children kept accepting (unless fewer exist): a child that finished a
 * connection finds the next one waiting, so each core has a process that need not be woken.
 */
const ACCEPTING_FLOOR = Math.max(2, 2 * availableParallelism())
/** With kernel accept, looks with no connection taken after which parked children accept again (1 s). */
const QUIET_LOOKS = 50

/** `--accept`: auto is kernel where it can be (a TCP listener, the addon built), else handoff. */
export type AcceptHow = 'handoff' | 'kernel' | 'auto'
export const ACCEPT_CHOICES: readonly AcceptHow[] = ['handoff', 'kernel', 'auto']

/**
 * `--accept kernel`: the listening socket the children accept from (the primary keeps a descriptor and
 * never reads it), and the scoreboard they write their state to, a slot each.
 */
interface KernelListener {
  addon: KernelAcceptAddon
  addonPath: string
  fd: number
  board: ForkScoreboard
  freeSlots: number[]
  /** connections that waited in the queue through a whole look at the scoreboard while no child took one */
  starved: number
  /** since when connections wait with no child taking any: past --wait-timeout they are closed */
  starvedSince: number | undefined
  /** looks in a row with no connection taken and none waiting */
  quietLooks: number
  /** children parked so far */
  parks: number
}

/**
 * A connection child: idle (a warm spare) until it is handed a socket, then serving; with reuse it is
 * idle again once its connection closed. Retiring: asked to leave (an extra idle child), or serving
 * its last connection (recycled).
 */
type ForkState = 'idle' | 'serving' | 'retiring'
/**
 * acceptedAt: when the socket it serves was accepted (handoff). Kernel accept: its scoreboard slot, and
 * the connections it had served at the primary's last look. born: forked by the zygote with its connection
 */
interface HandOff {
  acceptedAt?: number
  slot?: number
  seen?: number
  parked?: boolean
  born?: boolean
  /** Asked to drain each connection and come back for the next waiting one (a stop under hand-off, reuse). */
  draining?: boolean
}
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
  /** When the grace period of a stop ends (performance.now()). */
  private stopDeadline = Infinity
  private graceMs = 0
  /** Connections the primary has accepted (hand-off), for lingerAccepting. */
  private accepted = 0
  private stopRequested = false
  private shed = 0
  private prunedReset = 0
  /** Waiting connections dropped because the client left (FIN without a word, or reset) or waited too long. */
  private readonly goneWhileWaiting: Record<GoneReason, number> = { closed: 0, timeout: 0 }
  private retiredIdle = 0
  private retryTimer: NodeJS.Timeout | undefined
  private retireTimer: NodeJS.Timeout | undefined
  private boardTimer: NodeJS.Timeout | undefined
  /** Set when children accept from the kernel themselves (`--accept kernel`). */
  private kernel: KernelListener | undefined
  /** Why kernel accept is not used although it was the default, for the stats. */
  private acceptNote: string | undefined
  /** How children start (forkChildStart): their snapshot, the addon they die with their primary through. */
  private childStart: ForkChildStart | undefined
  /** Strict fork from a zygote (--child-boot zygote): every child is a fork() of it, born with its connection. */
  private zygote: Zygote | undefined
  /** Forks asked of the zygote and not yet ready. */
  private forking = 0

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
    const booted = processSpawner(FORK_CHILD_ENTRY, (pid, err) => { logger.warn({ child: pid, err: err.message }, 'child process error') }, () => ({
      ...this.childStart?.start,
      inherit: this.kernel === undefined ? [] : [this.kernel.fd, this.kernel.board.fd],
    }))
    // children boot as processes of their own, or are forked by the zygote (known once started)
    const spawner: Spawner = { spawn: async (env, carried) => await (this.zygote ?? booted).spawn(env, carried) }
    this.arbiter = new Arbiter<ForkState, HandOff>({
      model: 'fork',
      noun: 'child',
      spawner,
      logger,
      heartbeatMs: options.heartbeatMs ?? 0,
      relayBudgetBytes: options.limits.maxWriteBufferBytes,
      // broadcasts go to children with a connection (serving, or recycled while serving): a child's state
      // turns 'serving' before its socket is sent, so every broadcast relayed after the hand-off follows
      // the socket down the channel. With kernel accept a child learns of its connection before the
      // primary does: every child that is up takes broadcasts (an idle one has no connection to give
      // them to). A zygote's child has its connection from birth: it takes them from then (its channel
      // holds them until it reads)
      relaysTo: (child) => this.kernel !== undefined
        ? child.state !== 'booting'
        : child.state === 'serving' || (child.state === 'retiring' && child.recycling !== undefined) || (child.data.born === true && child.state === 'booting'),
      readyState: 'idle',
      onFatal: options.onFatal,
      stopModel: async (graceMs) => await this.stop(graceMs),
      onSpawned: (child) => {
        child.peer.on('serving', () => this.recordWait(performance.now() - (child.data.acceptedAt ?? performance.now())))
        // reuse: its connection closed, it takes the next one
        child.peer.on('idle', (message) => {
          child.served = message.served
          // not while stopping, unless it was asked to drain and come back: a child asked to shut down
          // drains and exits, and an `idle` it sent before that request reached it must not make it look
          // free for a waiting socket (which it would close unserved)
          if (child.state === 'serving' && (!this.stopping || child.data.draining === true)) child.state = 'idle'
          this.dispatch()
        })
      },
      // over a limit: it serves its connection to the end, then exits; a spare takes its place
      onRecycle: (child) => {
        if (child.state !== 'booting' && child.state !== 'stuck') child.state = 'retiring'
        this.dispatch()
      },
      onReady: (child) => {
        // a zygote's child serves the connection it was forked for (drained at once while stopping: the
        // stop asked only the children there were)
        if (child.data.born === true) {
          child.state = 'serving'
          if (this.stopping) child.peer.send({ type: 'shutdown', graceMs: this.graceMs })
        }
        this.dispatch()
      },
      onExit: (child) => {
        this.freeSlot(child)
        this.dispatch()
      },
    })
  }

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    await loadHandler(this.options.handlerPath)
    const how = await this.chooseAccept()
    this.childStart = await forkChildStart(this.options.handlerPath, this.options.childBoot, { strict: this.perChild === STRICT && how === undefined })
    if (this.childStart.bootNote !== undefined) this.arbiter.logger.info(this.childStart.bootNote)
    // the primary never reads: bytes a client sends before the hand-off wait in the kernel for the child
    // allowHalfOpen: a client's FIN seen while it waits must not end our side (see WaitingWatch)
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => this.onConnection(socket))
    this.listeningAt = await listen(this.server, this.options.listen)
    if (how !== undefined) {
      // kernel accept: keep the socket, not the listener. Closed in the same turn it started listening,
      // before the loop polls it, so the primary never accepts a connection
      const fd = how.addon.dup((this.server as unknown as { _handle: { fd: number } })._handle.fd)
      this.server.close()
      this.server = undefined
      if (fd < 0) throw errors.MODEL_FAILED(this.name, `kernel accept: cannot keep the listening socket (errno ${-fd})`)
      const prepared = how.addon.prepare(fd, ACCEPT_POLL_MS)
      if (prepared < 0) throw errors.MODEL_FAILED(this.name, `kernel accept: cannot prepare the listening socket (errno ${-prepared})`)
      // a slot for every child there can be at once
      const board = ForkScoreboard.create(how.addon, this.maxChildren)
      this.kernel = { ...how, fd, board, freeSlots: Array.from({ length: this.maxChildren }, (_, i) => this.maxChildren - 1 - i), starved: 0, starvedSince: undefined, quietLooks: 0, parks: 0 }
      // not unref'd: with no listener of its own, this keeps the primary alive when no child is
      this.boardTimer = setInterval(() => this.lookAtBoard(), BOARD_POLL_MS)
    } else {
      // accept failures (EMFILE): libuv sheds the connection; log and keep serving
      this.server.on('error', (err: NodeJS.ErrnoException) => { this.arbiter.logger.error({ code: err.code }, 'accept failed; still serving') })
    }
    // start serving once the first children (--start-children, by default the spares) are warm, so the
    // first connections do not pay for a boot; with none asked one child still boots first: it proves
    // the handler loads in a child, then serves the first connection. All at once: while they boot,
    // dispatch (a child became ready) counts them booting and starts no more
    if (this.childStart.zygote !== undefined) await this.startZygote(this.childStart.zygote)
    else await Promise.all(Array.from({ length: this.startChildren }, async () => await this.spawn()))
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
      // strict fork from a zygote: its pid, the children it forked, and how often it was started again
      ...(this.zygote === undefined ? {} : { zygote: { pid: this.zygote.pid, forks: this.zygote.forks, restarts: this.zygote.restarts } }),
      accept: this.kernel === undefined ? 'handoff' : 'kernel',
      ...(this.acceptNote === undefined ? {} : { acceptNote: this.acceptNote }),
      // what a child boots from: the startup snapshot, the bundled entry, or the modules (no build)
      boot: this.childStart?.boot,
      ...(this.childStart?.bootNote === undefined ? {} : { bootNote: this.childStart.bootNote }),
      // kernel accept: idle children the primary took out of the kernel's rotation (warm spares)
      parked: [...arbiter.children.values()].filter((c) => c.state === 'idle' && c.data.parked === true).length,
      parks: this.kernel?.parks ?? 0,
      minSpares: this.spares,
      maxSpares: this.maxSpares,
      startChildren: this.startChildren,
      retiredIdle: this.retiredIdle,
      recycled: { ...arbiter.recycled },
      perChild: arbiter.perChild(),
      booting: arbiter.count('booting'),
      // with kernel accept: connections completed and waiting in the kernel's accept queue
      waiting: this.kernel === undefined ? this.waiting.length : this.queued(),
      shedOnExhaustion: this.shed,
      prunedReset: this.prunedReset,
      droppedClosedWaiting: this.goneWhileWaiting.closed,
      waitTimeouts: this.goneWhileWaiting.timeout,
      maxChildren: this.maxChildren,
      spawned: arbiter.spawned,
      reaped: arbiter.reaped,
      stuckKilled: arbiter.stuckKilled,
      exitHangKilled: arbiter.exitHangKilled,
      countersLost: arbiter.countersLost,
      relayDropped: arbiter.hub.dropped,
      spawnWaitMs: summarizeWaits(this.waits),
    })
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    if (this.stopRequested) return { forced: 0 }
    this.stopRequested = true
    // serve normally a moment longer: connections the kernel already completed would be reset by
    // close() (with kernel accept the children take them: see beforeDrain)
    await lingerAccepting(() => this.accepted, graceMs)
    this.stopping = true
    this.graceMs = graceMs
    this.stopDeadline = performance.now() + graceMs
    clearInterval(this.retireTimer)
    clearInterval(this.boardTimer)
    this.server?.close()
    // kernel accept: the children being stopped take what is still queued; none starts for it
    if (this.kernel !== undefined) this.kernel.starved = 0
    // connections still waiting are served within the grace period, not cut by --wait-timeout
    for (const w of this.waiting) w.watch?.cancelTimeout()
    // connections still waiting are accepted ones: they are still handed over and drained while the
    // grace period lasts; serving children drain (answer what they received, then close); the others
    // are no longer wanted once nothing waits (dispatch ends them)
    this.dispatch()
    const killed = await this.arbiter.stop(graceMs, {
      // with kernel accept an idle child may be taking a connection as it is asked: it serves it in the
      // grace period too. With connections waiting, a reused child serving one drains it and comes back
      // for the next: a child booted for each would not fit many in the grace period on a loaded machine
      ask: (child) => {
        if (child.state === 'serving' && this.waiting.length > 0 && this.drainsAndReturns()) this.askToDrain(child)
        else if (child.state === 'serving' || child.state === 'retiring' || (this.kernel !== undefined && child.state === 'idle') || child.data.born === true) child.peer.send({ type: 'shutdown', graceMs })
      },
      busy: () => this.waiting.length > 0 || this.forking > 0,
    })
    // its children are gone: they would have died with it
    await this.zygote?.stop()
    const dropped = this.waiting.splice(0)
    for (const w of dropped) w.socket.destroy()
    // the listening socket closes with the last child's copy; what is still in its queue is reset then
    if (this.kernel !== undefined) {
      this.kernel.addon.close(this.kernel.fd)
      this.kernel.addon.close(this.kernel.board.fd)
    }
    return { forced: this.arbiter.book.forced + killed.filter((c) => c.state === 'serving' || (c.state === 'retiring' && c.recycling !== undefined)).length + dropped.length }
  }

  private onConnection (socket: Socket): void {
    this.accepted++
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
    if (this.zygote !== undefined) { this.forkForWaiting(); return }
    this.pruneReset(MAX_CONCURRENT_BOOTS + arbiter.count('idle'))
    for (const child of arbiter.children.values()) {
      if (this.waiting.length === 0) break
      if (child.state === 'idle') this.handOff(child, this.waiting.shift()!)
    }
    // while stopping, spares are no longer wanted: children are started only for connections still waiting
    const spares = this.stopping ? 0 : this.spares
    if (this.stopping && this.waiting.length === 0) {
      // (with kernel accept, idle children were asked to shut down: they may be serving what they just took)
      for (const child of arbiter.children.values()) if ((child.state === 'idle' && this.kernel === undefined) || child.state === 'booting') child.process.kill('SIGTERM')
      return
    }
    const booting = arbiter.count('booting')
    const idle = arbiter.count('idle')
    // with kernel accept nothing waits here: the kernel's accept queue is what waits for a child, and a
    // child is started for it only when none took a connection for a whole look at the scoreboard (under
    // churn a few busy children keep a queue and serve it fastest: no child sleeps between connections)
    const waiting = this.kernel === undefined ? this.waiting.length : this.kernel.starved
    const wanted = waiting + spares - booting - idle
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
    if (this.stopping) {
      if (this.drainsAndReturns()) this.askToDrain(child)
      else child.peer.send({ type: 'shutdown', graceMs: this.graceMs })
    }
  }

  /** While stopping, a reused child can serve the waiting connections one after another (hand-off). */
  private drainsAndReturns (): boolean {
    return this.perChild !== STRICT && this.kernel === undefined && this.zygote === undefined
  }

  /** Drain the connection it serves (and each one after), say `idle` between them; stop at the grace period's end. */
  private askToDrain (child: ForkChild): void {
    if (child.data.draining === true) return
    child.data.draining = true
    child.peer.send({ type: 'drain', graceMs: Math.max(0, Math.round(this.stopDeadline - performance.now())) })
  }

  /**
   * Strict fork from a zygote: a child is forked for each waiting connection, as long as there is room
   * under --max-children (a fork costs little: no spares, no limit on forks at once). While the zygote
   * is being started again, connections wait.
   */
  private forkForWaiting (): void {
    const zygote = this.zygote
    if (zygote === undefined || !zygote.ready) return
    this.pruneReset(this.maxChildren - this.arbiter.children.size - this.forking)
    while (this.waiting.length > 0 && this.arbiter.children.size + this.forking < this.maxChildren) {
      const { socket, acceptedAt, watch } = this.waiting.shift()!
      if (socket.destroyed) continue
      // what the client said while it waited goes along, to be served before what the child reads itself
      const preread = watch?.release()
      this.forking++
      // no environment: a forked child has the zygote's
      this.arbiter.spawn({}, { acceptedAt, born: true }, { socket, acceptedAt, preread })
        .catch((err: Error) => {
          // the socket went with the request: this connection is lost (the zygote died, or could not fork)
          socket.destroy()
          this.spawnFailed(err)
        })
        .finally(() => { this.forking--; this.dispatch() })
    }
  }

  /** Starts the zygote strict fork's children are forked from; a handler that does not load fails the start. */
  private async startZygote (start: NonNullable<ForkChildStart['zygote']>): Promise<void> {
    const env = { ...forkChildEnvironment(this.options, { zygote: { addon: start.addonPath } }), ECHOPLEX_ROLE: 'zygote' }
    this.zygote = new Zygote({
      entry: FORK_CHILD_ENTRY,
      // --single-threaded: a forked child has only the forking thread (see fork-zygote-run.ts).
      // --no-lazy: the zygote compiles every function it loads once, rather than each child compiling
      // what it runs (child CPU 8.6 → 6.5 ms a connection here, churn +15–20%)
      forkOptions: () => childForkOptions(env, { execArgv: ['--single-threaded', '--no-lazy'], parentDeathAddon: start.addonPath }),
      addon: loadKernelAccept(start.addonPath),
      logger: this.arbiter.logger,
      onFatal: (err) => this.arbiter.halt(err),
      onReady: () => this.dispatch(),
    })
    await this.zygote.start()
  }

  /**
   * With reuse, idle children are the spares: above --max-spares one retires per tick, so a burst's
   * children leave gradually and a churn of reconnecting clients does not make them boot again.
   */
  private retireExtraIdle (): void {
    if (this.stopping || this.waiting.length > 0 || this.arbiter.count('idle') <= this.maxSpares) return
    // a parked child first: it takes no connections anyway
    const idle = [...this.arbiter.children.values()].filter((c) => c.state === 'idle')
    const child = idle.find((c) => c.data.parked === true) ?? idle[0]
    if (child === undefined) return
    child.state = 'retiring'
    this.retiredIdle++
    child.peer.send({ type: 'retire' })
  }

  /** Starts a child; resolves when it is idle and ready for a socket. */
  private async spawn (): Promise<ForkChild> {
    const { kernel } = this
    if (kernel === undefined) return await this.arbiter.spawn(forkChildEnvironment(this.options), {})
    const slot = kernel.freeSlots.pop()
    if (slot === undefined) throw new ResourceError('no free scoreboard slot')
    kernel.board.write(slot, 0, 0)
    const env = forkChildEnvironment(this.options, { kernelAccept: { addon: kernel.addonPath, fd: CHILD_LISTEN_FD, board: CHILD_BOARD_FD, slots: kernel.board.slots, slot } })
    try {
      return await this.arbiter.spawn(env, { slot })
    } catch (err) {
      // a child that exited while booting gave its slot back already (onExit)
      if (![...this.arbiter.children.values()].some((c) => c.data.slot === slot) && !kernel.freeSlots.includes(slot)) kernel.freeSlots.push(slot)
      throw err
    }
  }

  /**
   * Kernel accept, --wait-timeout: no child took a connection for that long (every child holds one, and
   * the children started for the queue did not help): the primary takes the connections waiting in the kernel's queue and closes
   * them, so their clients are told instead of left hanging (hand-off closes its waiting ones alike).
   */
  private shedQueue (queued: number): void {
    const kernel = this.kernel
    if (kernel === undefined) return
    for (let i = 0; i < queued; i++) {
      const fd = kernel.addon.acceptNow(kernel.fd)
      if (fd < 0) break
      this.goneWhileWaiting[kernel.addon.peerClosed(fd) === 1 ? 'closed' : 'timeout']++
      kernel.addon.close(fd)
    }
    kernel.starvedSince = undefined
    this.arbiter.logger.debug({ queued, waitTimeoutMs: this.waitTimeoutMs }, 'closed connections that waited too long in the accept queue')
  }

  /** Kernel accept: parks an idle child (it stops accepting, stays warm) or wakes it. */
  private setAccepting (child: ForkChild, on: boolean): void {
    child.data.parked = !on
    child.peer.send({ type: 'accepting', on })
  }

  private freeSlot (child: ForkChild): void {
    const slot = child.data.slot
    if (this.kernel === undefined || slot === undefined) return
    child.data.slot = undefined
    this.kernel.board.write(slot, 0, 0)
    this.kernel.freeSlots.push(slot)
  }

  /**
   * Kernel accept: what each child is doing, from the scoreboard, and whether connections wait with no
   * child free to take them; then spares are looked after as with hand-off.
   */
  private lookAtBoard (): void {
    const kernel = this.kernel
    if (kernel === undefined || this.stopping) return
    let progressed = false
    const waiting: ForkChild[] = [] // idle, and in accept()
    const parked: ForkChild[] = []
    let accepting = 0
    for (const child of this.arbiter.children.values()) {
      const slot = child.data.slot
      if (slot === undefined) continue
      const state = kernel.board.state(slot)
      const served = kernel.board.served(slot)
      if (served !== (child.data.seen ?? 0)) progressed = true
      child.data.seen = child.served = served
      if (child.state === 'idle' && state === SLOT_SERVING) child.state = 'serving'
      else if (child.state === 'serving' && (state === SLOT_IDLE || state === SLOT_PARKED)) child.state = 'idle'
      if (child.state !== 'idle' && child.state !== 'serving') continue
      if (child.data.parked === true) {
        if (child.state === 'idle') parked.push(child)
        continue
      }
      accepting++
      if (child.state === 'idle' && state === SLOT_IDLE) waiting.push(child)
    }
    const queued = this.queued()
    // connections wait and no child took one since the last look: wake parked children, then start
    // more. Strict children serve one connection each: every one queued wants a child of its own
    const starved = queued > 0 && (!progressed || this.perChild === STRICT) ? queued : 0
    const wake = parked.slice(0, starved)
    for (const child of wake) this.setAccepting(child, true)
    kernel.starved = starved - wake.length
    if (starved === 0) kernel.starvedSince = undefined
    else if (kernel.starvedSince === undefined) kernel.starvedSince = Date.now()
    else if (this.waitTimeoutMs > 0 && Date.now() - kernel.starvedSince >= this.waitTimeoutMs) this.shedQueue(queued)
    // connections keep coming and more children wait in accept() than that needs: park some (they
    // stay warm spares) while the floor keeps the cores busy. The latest started: the kernel wakes the
    // earliest-started waiting child first (the addon's wait_set), so those are the ones that served
    // and are warm, and the latest would be woken last anyway
    if (starved === 0 && progressed && waiting.length > 1) {
      const park = Math.max(0, Math.min(Math.ceil((waiting.length - 1) / 2), accepting - ACCEPTING_FLOOR))
      for (const child of waiting.slice(waiting.length - park)) this.setAccepting(child, false)
      kernel.parks += park
    }
    // quiet for a while: every idle child accepts again, so a burst of long connections finds them all
    kernel.quietLooks = progressed || queued > 0 ? 0 : kernel.quietLooks + 1
    if (kernel.quietLooks >= QUIET_LOOKS) for (const child of parked) this.setAccepting(child, true)
    this.dispatch()
  }

  /** Connections in the kernel's accept queue (kernel accept), 0 when it cannot say. */
  private queued (): number {
    return this.kernel === undefined ? 0 : Math.max(0, this.kernel.addon.queued(this.kernel.fd))
  }

  /**
   * Who accepts: the primary (handoff, strict fork's default), or the children (kernel: it needs a TCP
   * listener and the addon, else it is one line of error; auto, the default with reuse: then handoff,
   * saying why in the stats).
   */
  private async chooseAccept (): Promise<{ addon: KernelAcceptAddon, addonPath: string } | undefined> {
    const asked = this.options.accept ?? defaultAccept(this.perChild)
    if (asked === 'handoff') return undefined
    const refuse = (why: string): undefined => {
      if (asked === 'kernel') throw errors.BAD_OPTION('--accept', `kernel accept ${why}`)
      this.acceptNote = `kernel accept not used: ${why}`
      this.arbiter.logger.info(this.acceptNote)
      return undefined
    }
    if ('path' in this.options.listen) return refuse('needs a TCP listener (a UNIX socket is accepted by the primary)')
    const built = await buildKernelAccept()
    if (!built.ok) return refuse(`is not available: ${built.reason}`)
    return { addon: loadKernelAccept(built.path), addonPath: built.path }
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
 * until it serves): also how `echoplex boot-cost` boots one exactly as the model does. `how`: a child
 * with kernel accept (its descriptors and slot), or the zygote (the addon it forks through).
 */
export function forkChildEnvironment (options: Pick<ServeOptions, 'handlerPath' | 'limits' | 'heartbeatMs' | 'connectionsPerChild' | 'maxRequests' | 'maxRequestsJitter' | 'maxMemory' | 'proxyProtocol' | 'maxChildren'>, how: Pick<ChildConfig, 'kernelAccept' | 'zygote'> = {}): Record<string, string> {
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
    ...how,
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

/** How the fork model starts a child, beyond its environment; boot and bootNote are for the stats. */
export interface ForkChildStart {
  /** --snapshot-blob when it boots from its snapshot; the addon it arms its parent-death signal through */
  start: Pick<ChildStart, 'execArgv' | 'parentDeathAddon'>
  /** what it boots from: the startup snapshot, the bundled entry, or the modules (no build); or a fork of the zygote */
  boot: 'snapshot' | 'bundle' | 'modules' | 'zygote'
  /** strict fork from a zygote: the addon it forks through */
  zygote?: { addonPath: string }
  /** why not from the snapshot, when that was the default (auto) */
  bootNote?: string
}

/**
 * How the fork model starts its children for this handler and `--child-boot` (`echoplex boot-cost`
 * starts its children so too, to measure the start the model pays): from the startup snapshot (auto,
 * the default, where it builds; `snapshot`: or one line of error) or the bundled entry, and dying with
 * the primary through the fork addon where it builds (else setpriv).
 */
export async function forkChildStart (handlerPath: string, asked: ChildBoot = 'auto', { strict = false }: { strict?: boolean } = {}): Promise<ForkChildStart> {
  const addon = await buildKernelAccept()
  const parentDeathAddon = addon.ok ? addon.path : undefined
  const entry = FORK_CHILD_ENTRY.endsWith('.cjs') ? 'bundle' : 'modules'
  if (asked === 'bundle') return { start: { parentDeathAddon }, boot: entry }
  let zygoteNote: string | undefined
  if (asked === 'zygote' || asked === 'auto') {
    const refused = zygoteRefused(strict, addon, handlerPath)
    if (refused === undefined && parentDeathAddon !== undefined) return { start: { parentDeathAddon }, boot: 'zygote', zygote: { addonPath: parentDeathAddon } }
    if (asked === 'zygote') throw errors.BAD_OPTION('--child-boot', `a zygote cannot be used: ${refused}`)
    // strict fork booting its children after all: the stats say why
    if (strict) zygoteNote = `zygote not used: ${refused}`
  }
  const built = needsModuleHooks(handlerPath)
    ? { ok: false as const, reason: 'the handler needs module hooks (TypeScript, or @echoplex imports from outside this install), which a child started from a snapshot cannot register' }
    : await buildChildSnapshot(FORK_CHILD_ENTRY)
  if (built.ok) return { start: { execArgv: ['--snapshot-blob', built.path], parentDeathAddon }, boot: 'snapshot', ...(zygoteNote === undefined ? {} : { bootNote: zygoteNote }) }
  if (asked === 'snapshot') throw errors.BAD_OPTION('--child-boot', `a startup snapshot cannot be used: ${built.reason}`)
  return { start: { parentDeathAddon }, boot: entry, bootNote: [zygoteNote, `startup snapshot not used: ${built.reason}`].filter((n) => n !== undefined).join('; ') }
}

/**
 * Why strict fork cannot fork its children from a zygote here, or undefined when it can: only strict
 * fork with the primary accepting (a reused child is handed sockets over IPC again and again), on
 * Linux with the addon built, and a handler that needs no module hooks (their loader thread would not
 * exist in a forked child).
 */
function zygoteRefused (strict: boolean, addon: { ok: true } | { ok: false, reason: string }, handlerPath: string): string | undefined {
  if (!strict) return 'it serves strict fork (--connections-per-child 1) with the primary accepting (--accept handoff)'
  if (!addon.ok) return `the fork addon is not available: ${addon.reason}`
  if (needsModuleHooks(handlerPath)) return 'the handler needs module hooks (TypeScript, or @echoplex imports from outside this install), whose loader thread a forked child would not have'
  // a profile is sampled on a thread of V8's and written at a Node exit: a forked child has neither
  if (writesProfiles()) return 'children write CPU or heap profiles (--cpu-prof, --heap-prof), which a forked child cannot: each boots, to be profiled'
  return undefined
}

/**
 * Strict fork is Python's ForkingMixIn: the parent accepts. A reused child takes its connections from
 * the kernel where it can (httpd prefork): the primary is then on no connection's path.
 */
function defaultAccept (perChild: number): AcceptHow {
  return perChild === STRICT ? 'handoff' : 'auto'
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
      { flags: '--accept <how>', key: 'accept', description: 'who accepts: handoff (the primary, handing each socket to an idle child), kernel (idle children take their connections from the listening socket themselves, the kernel waking one per connection; connections beyond the children wait in its queue, as with httpd prefork, and --wait-timeout closes them when no child took one for that long), or auto (kernel where it can, else handoff)', value: { kind: 'choice', choices: ACCEPT_CHOICES }, default: defaultAccept(perChildDefault) },
      { flags: '--child-boot <how>', key: 'childBoot', description: 'how a child starts: zygote (strict fork: a fork() of one warm process that has the handler loaded, as a forking server does, instead of a Node boot per connection), snapshot (it boots from a V8 startup snapshot of the bundled child, built once per Node and kept), bundle (it boots the bundled child script), or auto (zygote for strict fork where it can be, else snapshot where it builds, else bundle)', value: { kind: 'choice', choices: CHILD_BOOT_CHOICES }, default: 'auto' },
      { flags: '--connections-per-child <n>', key: 'connectionsPerChild', description: 'connections a child serves, one at a time, before it is recycled (1: a fresh child per connection; 0: no limit)', value: { kind: 'integer', min: 0, max: 1_000_000_000 }, default: perChildDefault },
      ...recycleOptions('child'),
      heartbeatOption('a child silent this long is killed'),
    ],
    roles: ['primary', 'zygote', 'spare', 'connection'],
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
      heartbeatKills: (stats) => stats.extra.stuckKilled as number,
      droppedWhileWaiting: (stats) => stats.extra.droppedClosedWaiting as number,
      // reuse: the suites also run it accepting in the primary (its default is kernel accept)
      variants: perChildDefault === STRICT ? [] : [{ name: 'handoff', args: ['--accept', 'handoff'] }],
    },
  })
}

export const forkReuse = forkDescriptor('fork-reuse',
  'httpd prefork: a child process serves one connection at a time and is reused for the next (recycled after --connections-per-child)',
  0, true)

export default forkDescriptor('fork',
  'a fresh child process per connection (Python ForkingMixIn): the primary accepts and hands each socket over',
  STRICT, false)
