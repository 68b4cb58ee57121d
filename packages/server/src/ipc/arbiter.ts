import { errors, type ConnectionCounters, type Logger } from '@echoplex/core'
import { ChildBook } from './child-book.js'
import { Peer } from './peer.js'
import { PrimaryHub, type ChildPeer } from './primary-hub.js'
import { CrashGuard, bootError, watchHeartbeats } from './supervision.js'
import type { Carried, Spawned, Spawner } from './spawner.js'
import type { RecycleReason } from './protocol.js'

/** After the grace period, how long stop() still waits for children before SIGKILL. */
export const STOP_SLACK_MS = 2000
/** How often stop() looks whether everything has exited. */
const STOP_POLL_MS = 25
/**
 * How long a child that said `bye` (drained, counters sent) may take to exit before it is killed.
 * Node's own exit can deadlock in its platform shutdown (nodejs/node#54918, open): the process then
 * hangs in process.exit for ever, its work done, holding a place the model counts.
 */
export const EXIT_HANG_MS = 3000
/** After a child exited, how long the rest of what it sent may still take to be read. */
const LAST_REPORT_WAIT_MS = 5000

/**
 * One supervised child process. `state` is `booting` until it reports ready, `stuck` once it missed
 * its heartbeat and was killed; in between it is the model's to set (cluster: ready; fork: idle, serving).
 */
export class Child<S extends string, D> {
  state: 'booting' | 'stuck' | S = 'booting'
  /** When it last proved alive (ready, a heartbeat, or a broadcast it sent). */
  lastBeat = Date.now()
  /** The address it reported listening on, with `ready` (a cluster worker). */
  address: string | undefined
  /** Connections it has served, as last reported (an `idle`, a `recycle`, or a stats answer). */
  served = 0
  /** Why it is being recycled, once it said it is over a limit. */
  recycling: RecycleReason | undefined
  /** It said `bye`: it has drained and is exiting, so killing it now loses nothing. */
  saidBye = false
  constructor (readonly process: Spawned, readonly peer: ChildPeer, public data: D) {}
  get pid (): number { return this.process.pid }
}

export interface ArbiterOptions<S extends string, D> {
  model: 'cluster' | 'fork'
  /** What the model calls one child in logs and errors: `worker`, `child`. */
  noun: string
  spawner: Spawner
  logger: Logger
  /** Broadcast bytes the primary lets wait for one child before it skips that child (see PrimaryHub). */
  relayBudgetBytes?: number
  /** Whether a child takes relayed broadcasts now (it has connections); without it every child does. */
  relaysTo?: (child: Child<S, D>) => boolean
  /** A child silent this long is stuck and killed (0: not watched). */
  heartbeatMs: number
  /** The state a child enters when it reports ready. */
  readyState: S
  /** The model cannot go on (see ServeOptions.onFatal); without it the arbiter stops the model. */
  onFatal?: (err: Error) => void
  /** Stops the whole model, for `halt` when there is no onFatal. */
  stopModel: (graceMs: number) => Promise<unknown>
  /** A child exists (not ready yet): attach the model's own message listeners. */
  onSpawned?: (child: Child<S, D>) => void
  /** A child reported ready (after `spawn` resolved with it). */
  onReady?: (child: Child<S, D>) => void
  /**
   * A child is over a recycling limit (`recycle`): it takes no new connections and finishes its own;
   * the model replaces it (cluster: a new worker first, then the old one drains; fork: the child exits
   * after its connection). Counted in `recycled` whatever the model does.
   */
  onRecycle?: (child: Child<S, D>, reason: RecycleReason) => void
  /** A child exited and was reaped (removed from `children`). */
  onExit?: (child: Child<S, D>, code: number | null, signal: NodeJS.Signals | null) => void
}

export interface StopPolicy<S extends string, D> {
  /** How a live child is asked to stop; by default a `shutdown` message when ready, SIGTERM while booting. */
  ask?: (child: Child<S, D>, graceMs: number) => void
  /** Work the model still has besides its children (fork's waiting connections): stop waits for it too. */
  busy?: () => boolean
}

/**
 * The supervisor both multi-process models share (gunicorn's Arbiter): spawns children through a
 * Spawner and waits for their boot (ready / boot-failed / exit while booting), serves their hub
 * traffic, reaps them, kills the ones that miss their heartbeat, counts their connections (live and
 * retired) and stops them with a grace period. The models keep only their policy: how sockets reach
 * children, how many, and what to do when one exits.
 */
export class Arbiter<S extends string, D = undefined> {
  readonly hub: PrimaryHub
  readonly book = new ChildBook()
  readonly children = new Map<number, Child<S, D>>()
  /** Children that died where they should not have: more than 5 within 10 s is a crash loop. */
  readonly crashes = new CrashGuard()
  spawned = 0
  reaped = 0
  stuckKilled = 0
  /** Children killed because they said `bye` but did not exit within EXIT_HANG_MS. */
  exitHangKilled = 0
  /**
   * Children that exited without their last report (`bye`) after they were ready: what they had
   * counted is missing from the stats (killed, crashed, or its bye lost on the way).
   */
  countersLost = 0
  /** Children recycled, by the limit they reached. */
  readonly recycled: Record<RecycleReason, number> = { connections: 0, requests: 0, memory: 0 }
  /** Set by stop() (and by a halt): children exiting from now on are expected to. */
  stopping = false
  private heartbeatTimer: NodeJS.Timeout | undefined

  constructor (private readonly options: ArbiterOptions<S, D>) {
    this.hub = new PrimaryHub(options.relayBudgetBytes)
  }

  get logger (): Logger { return this.options.logger }

  /**
   * Starts a child (with `carried`: for that connection); resolves once it reported ready. Rejects with ResourceError when the OS refused
   * the process, with the child's own error when its handler cannot load (boot-failed), and with
   * MODEL_FAILED when it exited while booting.
   */
  async spawn (env: Record<string, string>, data: D, carried?: Carried): Promise<Child<S, D>> {
    const { model, noun, logger } = this.options
    const spawned = await this.options.spawner.spawn(env, carried)
    this.spawned++
    const peer: ChildPeer = new Peer(spawned.channel, { failure: (why) => errors.MODEL_FAILED(model, why), closedWhy: `${noun} ${spawned.pid} is gone` })
    const child = new Child<S, D>(spawned, peer, data)
    this.children.set(child.pid, child)
    const relaysTo = this.options.relaysTo
    this.hub.add(peer, relaysTo === undefined ? undefined : () => relaysTo(child))
    // its exit may be heard (a SIGCHLD, the zygote's word) before the last of what it sent was read
    let channelClosed = false
    peer.channel.onClose(() => { channelClosed = true })
    // any broadcast read from the child also proves it ran when it sent it: under a flood its heartbeat
    // waits in the pipe behind a backlog that the primary has not read yet, and that wait is the
    // primary's, not the child's silence
    const alive = (): void => { child.lastBeat = Date.now() }
    peer.on('heartbeat', alive).on('broadcast', alive)
    peer.answer('farewell', () => null)
    peer.on('bye', (message) => {
      this.book.retire(message.counters, message.forced)
      child.saidBye = true
      this.killIfExitHangs(child)
    })
    peer.on('recycle', (message) => {
      if (child.recycling !== undefined) return
      child.recycling = message.reason
      child.served = message.served
      this.recycled[message.reason]++
      this.options.logger.info({ [this.options.noun]: child.pid, reason: message.reason, served: message.served }, `recycling a ${this.options.noun}`)
      this.options.onRecycle?.(child, message.reason)
    })
    this.options.onSpawned?.(child)
    return await new Promise<Child<S, D>>((resolve, reject) => {
      peer.on('ready', (message) => {
        child.address = message.address
        logger.debug({ [noun]: child.pid }, `${noun} ready`)
        child.state = this.options.readyState
        child.lastBeat = Date.now()
        resolve(child)
        this.options.onReady?.(child)
      })
      peer.on('boot-failed', (message) => reject(bootError(message, model)))
      spawned.onExit((code, signal) => {
        logger.debug({ [noun]: child.pid, code, signal, state: child.state }, `${noun} exited`)
        if (!child.saidBye && child.state !== 'booting') this.judgeLastReport(child, channelClosed, code, signal)
        this.children.delete(child.pid)
        this.hub.remove(peer)
        this.reaped++
        if (child.state === 'booting') reject(errors.MODEL_FAILED(model, `${noun} ${child.pid} exited while booting (${signal ?? code})`))
        this.options.onExit?.(child, code, signal)
      })
    })
  }

  /**
   * A child exited and its `bye` was not read: once its channel has closed (all it sent was read, at
   * most LAST_REPORT_WAIT_MS later) without one, what it had counted is missing from the stats.
   */
  private judgeLastReport (child: Child<S, D>, channelClosed: boolean, code: number | null, signal: NodeJS.Signals | null): void {
    const { noun, logger } = this.options
    let judged = false
    const judge = (): void => {
      if (judged) return
      judged = true
      if (child.saidBye) return
      this.countersLost++
      logger.warn({ [noun]: child.pid, code, signal, state: child.state }, `${noun} exited without its last report: its counters are lost`)
    }
    if (channelClosed) { judge(); return }
    child.peer.channel.onClose(judge)
    setTimeout(judge, LAST_REPORT_WAIT_MS).unref()
  }

  /** A child that said bye and is still there after EXIT_HANG_MS is hung in its own exit: kill it. */
  private killIfExitHangs (child: Child<S, D>): void {
    const timer = setTimeout(() => {
      if (child.process.exited()) return
      this.exitHangKilled++
      this.options.logger.warn({ [this.options.noun]: child.pid, afterMs: EXIT_HANG_MS }, `${this.options.noun} said bye but did not exit (a Node exit deadlock, nodejs/node#54918); killing it`)
      child.process.kill('SIGKILL')
    }, EXIT_HANG_MS)
    timer.unref()
    child.process.onExit(() => clearTimeout(timer))
  }

  /** Children in `state` now. */
  count (state: Child<S, D>['state']): number {
    let n = 0
    for (const child of this.children.values()) if (child.state === state) n++
    return n
  }

  /** Starts the heartbeat watch: a ready child silent for heartbeatMs is killed (and marked stuck). */
  watch (): void {
    const { noun, logger } = this.options
    this.heartbeatTimer = watchHeartbeats(this.options.heartbeatMs, () => this.children.values(),
      (c) => c.state !== 'booting' && c.state !== 'stuck' && !c.process.exited(), (c, silentMs) => {
        this.stuckKilled++
        logger.warn({ [noun]: c.pid, silentMs }, `${noun} missed its heartbeat; killing it`)
        c.state = 'stuck'
        c.lastBeat = Date.now()
        c.process.kill('SIGKILL')
      })
  }

  /** Counters of the children `which` picks (asked now), plus those of children that exited. */
  async collect (which: (child: Child<S, D>) => boolean): Promise<ConnectionCounters> {
    const picked = [...this.children.values()].filter(which)
    return await this.book.collect(picked.map((c) => c.peer), undefined, (i, counters) => { picked[i]!.served = counters.connectionsTotal })
  }

  /** Each live child: pid, state and the connections it has served (as of the last report or collect). */
  perChild (): Array<{ pid: number, state: string, served: number }> {
    return [...this.children.values()].map((c) => ({ pid: c.pid, state: c.recycling === undefined ? c.state : 'recycling', served: c.served }))
  }

  /** The model cannot go on: tell the caller (onFatal), or stop it. */
  halt (err: Error): void {
    if (this.stopping) return
    this.options.logger.error({ err: err.message }, 'halting')
    if (this.options.onFatal !== undefined) this.options.onFatal(err)
    else void this.options.stopModel(0)
  }

  /**
   * Asks every child to stop, waits until all have exited (and the model is no longer `busy`), at
   * most graceMs + STOP_SLACK_MS, then SIGKILLs what is left. Resolves with the children killed
   * before they said bye (their connections were cut); one that said bye was only hung in its exit.
   */
  async stop (graceMs: number, policy: StopPolicy<S, D> = {}): Promise<Array<Child<S, D>>> {
    this.stopping = true
    clearInterval(this.heartbeatTimer)
    const ask = policy.ask ?? ((child: Child<S, D>) => {
      // a child still booting may not listen for IPC yet, and has no connections: a signal will do
      if (child.state === 'booting') child.process.kill('SIGTERM')
      else child.peer.send({ type: 'shutdown', graceMs })
    })
    for (const child of this.children.values()) if (!child.process.exited()) ask(child, graceMs)
    const deadline = Date.now() + graceMs + STOP_SLACK_MS
    while ((this.children.size > 0 || policy.busy?.() === true) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, STOP_POLL_MS))
    }
    const left = [...this.children.values()]
    for (const child of left) {
      this.options.logger.warn({ [this.options.noun]: child.pid, state: child.state, connected: child.peer.isConnected() }, `${this.options.noun} did not stop in time; killing it`)
      child.process.kill('SIGKILL')
    }
    await Promise.all(left.map(async (c) => { if (!c.process.exited()) await this.exited(c) }))
    return left.filter((c) => !c.saidBye)
  }

  private async exited (child: Child<S, D>): Promise<void> {
    await new Promise<void>((resolve) => child.process.onExit(() => resolve()))
  }
}
