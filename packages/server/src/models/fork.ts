import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { createLogger, errors, type Logger } from '@echoplex/core'
import type { ConcurrencyModel, ModelStats, ServeOptions, StopResult } from '../model.js'
import { listen } from '../listen.js'
import { ACCEPT_LINGER_MS } from '../connection-server.js'
import { connectionBudget } from '../descriptors.js'
import { loadHandler } from '../handler-loader.js'
import { PrimaryHub, send, type ChildChannel } from '../ipc/primary-hub.js'
import { ChildBook, bootError, watchHeartbeats } from '../ipc/children.js'
import { CHILD_CONFIG_ENV, type ChildConfig, type ChildToPrimary } from '../ipc/protocol.js'
import { summarizeWaits } from '../wait-stats.js'

export const DEFAULT_MAX_CHILDREN = 64
const MAX_CONCURRENT_BOOTS = Math.max(2, availableParallelism())
const CHILD_ENTRY = fileURLToPath(new URL('./fork-child.js', import.meta.url))
/** Spawn waits kept for the stats (a ring: the most recent ones). */
const WAITS_KEPT = 10_000

interface Child {
  proc: ChildProcess
  channel: ChildChannel
  state: 'booting' | 'idle' | 'serving'
  lastBeat: number
  acceptedAt?: number
}

interface Waiting { socket: Socket, acceptedAt: number }

/** The OS would not start a process now (EMFILE, EAGAIN): retried, never fatal. */
class ResourceError extends Error {}

const RETRY_SPAWN_MS = 250
/** Waiting connections closed each time a spawn fails for lack of descriptors or processes. */
const SHED_ON_EXHAUSTION = 8
const CRASH_LIMIT = 5
const CRASH_WINDOW_MS = 10_000

/**
 * A child process per connection, the seeds' `os.fork()` server: the primary accepts with
 * `pauseOnConnect` (so it never reads a byte) and hands the socket to a child that serves exactly that
 * connection and exits. Children are bounded by --max-children (more connections wait their turn),
 * warm spares hide a Node boot, libuv reaps every child, and children exit when the primary's IPC
 * channel closes, so killing the primary leaves no orphans.
 */
export class ForkModel implements ConcurrencyModel {
  readonly name = 'fork' as const
  private readonly hub = new PrimaryHub()
  private readonly book = new ChildBook()
  private readonly children = new Map<number, Child>()
  private readonly waiting: Waiting[] = []
  private readonly waits: number[] = []
  private readonly logger: Logger = createLogger({ model: 'fork', role: 'primary' })
  private readonly startedAt = Date.now()
  private readonly maxChildren: number
  private readonly spares: number
  private readonly maxWaiting: number
  private server: Server | undefined
  private listeningAt: string | undefined
  private stopping = false
  private graceMs = 0
  private stopRequested = false
  private bootFailures: number[] = []
  private shed = 0
  private prunedReset = 0
  private retryTimer: NodeJS.Timeout | undefined
  private spawned = 0
  private exited = 0
  private killedStuck = 0
  private heartbeatTimer: NodeJS.Timeout | undefined

  constructor (private readonly options: ServeOptions) {
    this.maxChildren = options.maxChildren ?? DEFAULT_MAX_CHILDREN
    this.spares = Math.min(options.spares ?? 0, this.maxChildren)
    // each waiting connection holds a descriptor here, and so does every child's IPC channel
    this.maxWaiting = Math.max(1, connectionBudget(options.limits.maxConnections) - this.maxChildren)
  }

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    await loadHandler(this.options.handlerPath)
    // the primary never reads: bytes a client sends before the hand-off wait in the kernel for the child
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.onConnection(socket))
    this.listeningAt = await listen(this.server, this.options.listen)
    // accept failures (EMFILE): libuv sheds the connection; log and keep serving
    this.server.on('error', (err: NodeJS.ErrnoException) => { this.logger.error({ code: err.code }, 'accept failed; still serving') })
    // start serving once the spares are warm, so the first connections do not pay for a boot; with no
    // spares one child still boots first: it proves the handler loads in a child, then serves the first connection
    await Promise.all(Array.from({ length: Math.max(1, this.spares) }, async () => await this.spawn()))
    this.heartbeatTimer = watchHeartbeats(this.options.heartbeatMs ?? 0, () => this.children.values(), (c) => c.state !== 'booting' && c.proc.exitCode === null, (c, silentMs) => {
      this.killedStuck++
      this.logger.warn({ child: c.proc.pid, silentMs }, 'child missed its heartbeat; killing it')
      c.lastBeat = Date.now()
      c.proc.kill('SIGKILL')
    })
    return this.listeningAt
  }

  address (): string | undefined { return this.listeningAt }

  async stats (): Promise<ModelStats> {
    const serving = [...this.children.values()].filter((c) => c.state === 'serving')
    const counters = await this.book.collect(serving.map((c) => c.channel))
    counters.connectionsActive = serving.length
    return {
      model: this.name,
      pid: process.pid,
      uptimeMs: Date.now() - this.startedAt,
      ...counters,
      extra: {
        children: this.children.size,
        serving: serving.length,
        spares: this.count('idle'),
        booting: this.count('booting'),
        waiting: this.waiting.length,
        shedOnExhaustion: this.shed,
        prunedReset: this.prunedReset,
        maxChildren: this.maxChildren,
        spawned: this.spawned,
        reaped: this.exited,
        killedStuck: this.killedStuck,
        spawnWaitMs: summarizeWaits(this.waits),
      },
    }
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    if (this.stopRequested) return { forced: 0 }
    this.stopRequested = true
    clearInterval(this.heartbeatTimer)
    // serve normally a moment longer: connections the kernel already completed would be reset by
    // close() (see ACCEPT_LINGER_MS)
    await new Promise((resolve) => setTimeout(resolve, ACCEPT_LINGER_MS))
    this.stopping = true
    this.graceMs = graceMs
    this.server?.close()
    // serving children drain (answer what they received, then close); connections still waiting are
    // accepted ones, so they are still handed over and drained, while the grace period lasts
    for (const child of this.children.values()) if (child.state === 'serving') send(child.channel, { t: 'shutdown', graceMs })
    this.dispatch()
    const deadline = Date.now() + graceMs + 2000
    while ((this.children.size > 0 || this.waiting.length > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    const left = [...this.children.values()]
    for (const child of left) child.proc.kill('SIGKILL')
    const dropped = this.waiting.splice(0)
    for (const w of dropped) w.socket.destroy()
    await Promise.all(left.map(async (c) => c.proc.exitCode !== null || c.proc.signalCode !== null ? undefined : await once(c.proc, 'exit')))
    return { forced: this.book.forced + left.filter((c) => c.state === 'serving').length + dropped.length }
  }

  private count (state: Child['state']): number {
    let n = 0
    for (const c of this.children.values()) if (c.state === state) n++
    return n
  }

  private onConnection (socket: Socket): void {
    socket.on('error', () => {}) // a reset while waiting only ends that connection
    if (this.stopping || this.waiting.length >= this.maxWaiting) { socket.destroy(); return }
    this.waiting.push({ socket, acceptedAt: performance.now() })
    this.logger.debug({ waiting: this.waiting.length, children: this.children.size }, 'connection accepted')
    this.dispatch()
  }

  /** Hands waiting connections to idle children, and starts children for the rest and the spares. */
  private dispatch (): void {
    this.pruneReset(MAX_CONCURRENT_BOOTS + this.count('idle'))
    for (const child of this.children.values()) {
      if (this.waiting.length === 0) break
      if (child.state === 'idle') this.handOff(child, this.waiting.shift()!)
    }
    // while stopping, spares are no longer wanted: children are started only for connections still waiting
    const spares = this.stopping ? 0 : this.spares
    if (this.stopping && this.waiting.length === 0) {
      for (const child of this.children.values()) if (child.state !== 'serving') child.proc.kill('SIGTERM')
      return
    }
    const booting = this.count('booting')
    const wanted = this.waiting.length + spares - booting - this.count('idle')
    const room = this.maxChildren - this.children.size
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

  private handOff (child: Child, { socket, acceptedAt }: Waiting): void {
    if (socket.destroyed) return
    child.state = 'serving'
    child.acceptedAt = acceptedAt
    this.logger.debug({ child: child.proc.pid }, 'handing off a connection')
    // keepOpen false: once the handle is in the child, the primary's copy is closed
    child.proc.send({ t: 'socket', acceptedAt }, socket, { keepOpen: false }, (err) => {
      if (err !== null) {
        this.logger.warn({ child: child.proc.pid, err: err.message }, 'hand-off failed')
        socket.destroy()
        child.proc.kill('SIGKILL')
      }
    })
    if (this.stopping) send(child.channel, { t: 'shutdown', graceMs: this.graceMs })
  }

  /** Starts a child; resolves when it is idle and ready for a socket. */
  private async spawn (): Promise<Child> {
    const config: ChildConfig = { model: 'fork', handlerPath: this.options.handlerPath, limits: this.options.limits, heartbeatMs: this.options.heartbeatMs ?? 0, proxyProtocol: this.options.proxyProtocol }
    const proc = fork(CHILD_ENTRY, [], {
      serialization: 'advanced',
      env: { ...process.env, [CHILD_CONFIG_ENV]: JSON.stringify(config), ECHOPLEX_ROLE: 'spare' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    })
    if (proc.pid === undefined) {
      // the OS refused (descriptors or processes exhausted): not the handler's fault, try again later
      const err = await new Promise<Error>((resolve) => proc.once('error', resolve))
      throw new ResourceError(err.message)
    }
    proc.on('error', (err) => { this.logger.warn({ child: proc.pid, err: err.message }, 'child process error') })
    this.spawned++
    const channel: ChildChannel = { send: (message, callback) => proc.send(message, callback), isConnected: () => proc.connected }
    const child: Child = { proc, channel, state: 'booting', lastBeat: Date.now() }
    this.children.set(proc.pid, child)
    this.hub.add(channel)
    return await new Promise<Child>((resolve, reject) => {
      proc.on('message', (message: ChildToPrimary) => {
        if (this.hub.handle(channel, message) || this.book.routine(message, child)) return
        switch (message.t) {
          case 'ready':
            this.logger.debug({ child: proc.pid }, 'child ready')
            child.state = 'idle'
            child.lastBeat = Date.now()
            resolve(child)
            this.dispatch()
            break
          case 'serving':
            this.recordWait(performance.now() - (child.acceptedAt ?? performance.now()))
            break
          case 'boot-failed':
            reject(bootError(message, 'fork'))
            break
        }
      })
      proc.once('exit', (code, signal) => {
        this.logger.debug({ child: proc.pid, code, signal, state: child.state }, 'child exited')
        this.children.delete(proc.pid!)
        this.hub.remove(channel)
        this.exited++
        if (child.state === 'booting') reject(errors.MODEL_FAILED('fork', `child ${proc.pid} exited while booting (${signal ?? code})`))
        this.dispatch()
      })
    })
  }

  /**
   * A child that reports its handler cannot load will never boot: halt. A refused spawn or a child
   * that died while booting is retried shortly, and halts only as a crash loop.
   */
  private spawnFailed (err: Error): void {
    if (this.stopping) return
    if (!(err instanceof ResourceError) && (err as { code?: string }).code !== errors.MODEL_FAILED.code) { this.halt(err); return }
    const now = Date.now()
    this.bootFailures = [...this.bootFailures.filter((t) => now - t < CRASH_WINDOW_MS), now]
    if (err instanceof ResourceError && this.waiting.length > 0) {
      // waiting sockets hold the descriptors a new child needs: shed the newest so the oldest can be served
      const shed = this.waiting.splice(-Math.min(this.waiting.length, SHED_ON_EXHAUSTION))
      for (const w of shed) w.socket.destroy()
      this.shed += shed.length
    }
    this.logger.warn({ err: err.message, recent: this.bootFailures.length, shed: this.shed }, 'could not start a child; retrying')
    if (!(err instanceof ResourceError) && this.bootFailures.length > CRASH_LIMIT) {
      this.halt(errors.MODEL_FAILED('fork', `crash loop: ${this.bootFailures.length} children died while booting within ${CRASH_WINDOW_MS / 1000} s (${err.message})`))
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

  private halt (err: Error): void {
    if (this.stopping) return
    this.logger.error({ err: err.message }, 'halting')
    if (this.options.onFatal !== undefined) this.options.onFatal(err)
    else void this.stop(0)
  }
}
