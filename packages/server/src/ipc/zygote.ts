import { fork, type ChildProcess, type ForkOptions } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { errors, type Logger } from '@echoplex/core'
import type { KernelAcceptAddon } from '../sources/kernel-accept.js'
import { ipcChannel } from './channel.js'
import { Peer } from './peer.js'
import type { PrimaryToZygote, ZygoteToPrimary } from './protocol.js'
import { ResourceError, type Carried, type Spawned, type Spawner } from './spawner.js'
import { streamChannel } from './stream-channel.js'
import { bootError } from './supervision.js'

/** A zygote that died is started again after this long (doubling while it keeps dying, up to 2 s). */
const RESTART_MS = 100
const RESTART_MAX_MS = 2000
/** How long the primary looks for an orphan of a dead zygote to reap (it is reparented here). */
const ORPHAN_REAP_MS = 5000
const ORPHAN_POLL_MS = 50
/** How long the primary sweeps for orphans after a zygote died, even with none known. */
const ORPHAN_SWEEP_MS = 1000

/** Whether `pid` exists and is not a zombie (a zombie of ours the sweep reaps). */
function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

interface PendingFork {
  resolve: (spawned: Spawned) => void
  reject: (err: Error) => void
}

/** A child the zygote forked, as the primary sees it until it is reaped. */
interface Forked {
  exited: boolean
  listeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void>
}

export interface ZygoteOptions {
  /** The fork child entry the zygote runs (the bundle: it boots once, so no snapshot is needed). */
  entry: string
  /** Its child_process.fork() options (its environment says it is the zygote). */
  forkOptions: () => ForkOptions
  addon: KernelAcceptAddon
  logger: Logger
  /** The zygote cannot start (its handler does not load): the model cannot go on. */
  onFatal: (err: Error) => void
  /** The zygote is up again after a restart: connections that waited can be forked for. */
  onReady: () => void
}

/**
 * The primary's end of strict fork's zygote (see fork-zygote-run.ts): starts it, asks it to fork a
 * child for each connection (the socket rides along), and turns each child into a `Spawned` the
 * arbiter supervises like any other — its channel is the socket pair the zygote made, its exit is
 * what the zygote reports when it reaps it. A zygote that dies is started again; its children die
 * with it (their parent-death signal) and, reparented to the primary (a subreaper), are reaped here.
 */
export class Zygote implements Spawner {
  private proc: ChildProcess | undefined
  private peer: Peer<ZygoteToPrimary, PrimaryToZygote> | undefined
  private up = false
  private stopping = false
  private nextId = 0
  private restartMs = RESTART_MS
  private readonly pending = new Map<number, PendingFork>()
  private readonly forked = new Map<number, Forked>()
  restarts = 0
  forks = 0

  constructor (private readonly options: ZygoteOptions) {
    // orphans of a zygote that died are reparented here, to be reaped
    options.addon.subreaper()
  }

  /** Whether a fork can be asked for now. */
  get ready (): boolean { return this.up }
  get pid (): number | undefined { return this.proc?.pid }

  /** Starts the zygote; resolves once it has loaded the handler, rejects with why it could not. */
  async start (): Promise<void> {
    const proc = fork(this.options.entry, [], this.options.forkOptions())
    this.proc = proc
    if (proc.pid === undefined) throw new ResourceError(await new Promise<string>((resolve) => proc.once('error', (err) => resolve(err.message))))
    proc.on('error', (err) => this.options.logger.warn({ zygote: proc.pid, err: err.message }, 'zygote process error'))
    const peer = new Peer<ZygoteToPrimary, PrimaryToZygote>(ipcChannel(proc), { failure: (why) => errors.MODEL_FAILED('fork', why), closedWhy: 'the zygote is gone' })
    this.peer = peer
    peer.on('forked', (message, handle) => this.onForked(message.id, message.pid, handle as Socket | undefined))
    peer.on('fork-failed', (message) => this.settle(message.id)?.reject(new ResourceError(message.error)))
    peer.on('reaped', (message) => this.ended(message.pid, message.code, message.signal))
    await new Promise<void>((resolve, reject) => {
      peer.on('ready', () => { this.up = true; this.restartMs = RESTART_MS; resolve() })
      peer.on('boot-failed', (message) => reject(bootError(message, 'fork')))
      proc.once('exit', (code, signal) => {
        const wasUp = this.up
        this.up = false
        reject(errors.MODEL_FAILED('fork', `the zygote exited while booting (${signal ?? code})`))
        for (const id of [...this.pending.keys()]) this.settle(id)?.reject(new ResourceError('the zygote is gone'))
        // its children died with it: reaped here once reparented
        this.reapOrphans([...this.forked.keys()])
        if (wasUp && !this.stopping) this.restart(code, signal)
      })
    })
  }

  async spawn (_env: Record<string, string>, carried?: Carried): Promise<Spawned> {
    const peer = this.peer
    if (carried === undefined) throw errors.MODEL_FAILED('fork', 'a zygote child is forked for a connection')
    if (!this.up || peer === undefined) throw new ResourceError('the zygote is not running')
    const id = ++this.nextId
    return await new Promise<Spawned>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      // the socket moves to the zygote, and the primary's copy closes once it is there (keepOpen false)
      peer.send({ type: 'fork', id, acceptedAt: carried.acceptedAt, ...(carried.preread === undefined ? {} : { preread: carried.preread }) }, carried.socket, (err) => {
        if (err !== null) { carried.socket.destroy(); this.settle(id)?.reject(new ResourceError(err.message)) }
      })
    })
  }

  /** Stops the zygote (its children were stopped first: they would die with it). */
  async stop (): Promise<void> {
    this.stopping = true
    this.up = false
    const proc = this.proc
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    const gone = new Promise((resolve) => proc.once('exit', resolve))
    // it leaves when its channel closes (it ignores signals: see fork-zygote-run.ts)
    if (proc.connected) proc.disconnect()
    else proc.kill('SIGKILL')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2000)
    await gone
    clearTimeout(timer)
  }

  private settle (id: number): PendingFork | undefined {
    const waiter = this.pending.get(id)
    this.pending.delete(id)
    return waiter
  }

  private onForked (id: number, pid: number, control: Socket | undefined): void {
    const waiter = this.settle(id)
    if (control === undefined || waiter === undefined) {
      control?.destroy()
      try { process.kill(pid, 'SIGKILL') } catch {}
      waiter?.reject(new ResourceError('the zygote sent no channel'))
      return
    }
    // the channel writes on a descriptor of its own: a write that fails once the child is gone must
    // not close the one its last messages are still to be read from (streamChannel)
    const fd = (control as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1
    const copy = fd < 0 ? -9 /* EBADF */ : this.options.addon.dup(fd)
    if (copy < 0) {
      control.destroy()
      try { process.kill(pid, 'SIGKILL') } catch {}
      waiter.reject(new ResourceError(`no descriptor for the child's channel (errno ${-copy})`))
      return
    }
    const writer = new Socket({ fd: copy, readable: false, writable: true })
    this.forks++
    const child: Forked = { exited: false, listeners: [] }
    this.forked.set(pid, child)
    waiter.resolve({
      pid,
      channel: streamChannel(control, writer),
      exited: () => child.exited,
      kill: (signal) => {
        if (child.exited) return
        try { process.kill(pid, signal) } catch {}
      },
      onExit: (listener) => { if (child.exited) listener(null, null); else child.listeners.push(listener) },
    })
  }

  private ended (pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    // the zygote says `reaped` after `forked` (one channel, in order): an unknown pid is one already
    // ended here (an orphan), and must leave nothing behind that a later child of the same pid would find
    const child = this.forked.get(pid)
    if (child === undefined) return
    this.forked.delete(pid)
    child.exited = true
    for (const listener of child.listeners.splice(0)) listener(code, signal)
  }

  /**
   * The children of a dead zygote: reparented here and SIGKILLed with it. Every ended child of the
   * primary but the live zygote (libuv reaps that one) is reaped, whether it was known or not (one
   * whose `forked` never arrived); a known one has ended once it is gone. Swept for at least
   * ORPHAN_SWEEP_MS, and while known ones are left, for at most ORPHAN_REAP_MS.
   */
  private reapOrphans (pids: number[], since = Date.now()): void {
    this.options.addon.reapOrphans(this.proc?.pid ?? -1)
    const elapsed = Date.now() - since
    const left = pids.filter((pid) => isAlive(pid) && elapsed < ORPHAN_REAP_MS)
    for (const pid of pids) if (!left.includes(pid)) this.ended(pid, null, 'SIGKILL')
    if (left.length > 0 || elapsed < ORPHAN_SWEEP_MS) setTimeout(() => this.reapOrphans(left, since), ORPHAN_POLL_MS).unref()
  }

  private restart (code: number | null, signal: NodeJS.Signals | null): void {
    this.restarts++
    const delay = this.restartMs
    this.restartMs = Math.min(RESTART_MAX_MS, this.restartMs * 2)
    this.options.logger.warn({ zygote: this.proc?.pid, code, signal, restartInMs: delay }, 'the zygote exited; starting another')
    setTimeout(() => {
      if (this.stopping) return
      this.start().then(() => this.options.onReady(), (err: Error) => {
        if (err instanceof ResourceError) this.restart(null, null)
        else this.options.onFatal(err)
      })
    }, delay).unref()
  }
}
