import { LocalExecutor, catchHandlerFaults, createLogger, describeError, errors, isEchoplexError, type HandlerDefinition, type Logger } from '@echoplex/core'
import { ConnectionServer } from '../connection-server.js'
import { loadHandler } from '../handler-loader.js'
import { ipcChannel, type Channel } from './channel.js'
import { ChildHub, type PrimaryPeer } from './child-hub.js'
import { Peer } from './peer.js'
import { readChildConfig, type ChildConfig, type ChildToPrimary } from './protocol.js'
import { NO_RECYCLING, Recycler } from './recycler.js'
import { dieWithParent } from './parent-death.js'

/** How long a child waits for its last IPC message to leave before exiting anyway. */
const EXIT_FLUSH_MS = 500

/**
 * What every child process of a multi-process model runs: load the handler itself (by path), serve
 * connections with the same runtime as the event loop, answer the primary, and die with it — a child
 * whose IPC channel closes exits at once, so a SIGKILLed primary leaves no orphans. Where its sockets
 * come from is the entry's choice (a SocketSource given to `serving`).
 */
export class ChildRuntime {
  readonly config: ChildConfig
  /** This process's end of the IPC channel to the primary. */
  readonly primary: PrimaryPeer
  readonly hub: ChildHub
  /** Logs with this process's current role (a fork child is a spare, then a connection: as `ps` shows). */
  readonly logger: Logger
  /** One logger per role this process has had: a reused fork child changes role twice per connection. */
  private readonly roleLoggers = new Map<string, Logger>()
  /** the role its title and log lines show */
  private role: string
  serving!: ConnectionServer
  /** This child's recycling limits (--max-requests, --max-memory), checked against its own counters. */
  recycler!: Recycler
  private stopping = false

  /** `channel`: to the primary; by default the IPC channel this process was started with (a zygote's child has its own). */
  constructor (role: string, channel: Channel = ipcChannel(process)) {
    this.config = readChildConfig()
    process.env.ECHOPLEX_ROLE = role
    this.role = role
    const to = (name: keyof Logger) => ((...args: unknown[]) => { (this.roleLogger()[name] as (...a: unknown[]) => void)(...args) }) as never
    this.logger = { fatal: to('fatal'), error: to('error'), warn: to('warn'), info: to('info'), debug: to('debug') }
    this.primary = new Peer(channel, { failure: errors.SHARED_FAILED, closedWhy: 'primary is gone' })
    // broadcasts waiting for the IPC pipe are held to what one connection may hold unsent
    this.hub = new ChildHub(this.primary, this.config.limits?.maxWriteBufferBytes)
    channel.onClose(() => this.orphaned())
    // 'disconnect' needs this thread's event loop; a handler looping forever would outlive a SIGKILLed
    // primary. The kernel kills us with it (PDEATHSIG), or else a thread of our own does.
    dieWithParent()
    // the terminal's Ctrl+C reaches the whole process group; the primary decides how we stop
    process.on('SIGINT', () => {})
    process.on('SIGUSR2', () => {}) // the primary's stats signal, if sent to the whole group
    process.on('SIGHUP', () => {}) // the primary's rolling restart, or a closed terminal: the primary decides
    process.on('SIGTERM', () => { void this.shutdown(this.config.limits.graceMs) })
    // a handler's throw from a timer closes its own connection; one nobody owns is ours: exit
    catchHandlerFaults(this.logger, (err) => {
      this.logger.fatal({ err: describeError(err) }, 'uncaught exception; exiting')
      this.exit(1)
    })
    this.primary.answer('stats', () => this.serving.counters)
    this.primary.on('shutdown', (message) => {
      this.logger.debug({ graceMs: message.graceMs, connections: this.serving?.connections.size }, 'shutdown requested')
      void this.shutdown(message.graceMs)
    })
  }

  /**
   * Loads the handler; on failure tells the primary why (so it can halt instead of respawning) and exits.
   * `bundled`: built-in handlers compiled into this entry (a bundled child), used instead of importing the file.
   * `loaded`: the handler already loaded (a zygote's child has it from the zygote).
   */
  async boot (bundled: Readonly<Record<string, HandlerDefinition>> = {}, loaded?: HandlerDefinition): Promise<void> {
    try {
      const builtin = this.config.builtinHandler
      const handler = loaded ?? (builtin !== undefined && bundled[builtin] !== undefined ? bundled[builtin] : await loadHandler(this.config.handlerPath))
      this.serving = new ConnectionServer({
        executor: new LocalExecutor(handler),
        hub: this.hub,
        limits: this.config.limits,
        model: this.config.model,
        logger: this.logger,
        proxyProtocol: this.config.proxyProtocol,
      })
    } catch (err) {
      await this.bootFailed(err)
    }
    this.recycler = new Recycler(this.config.recycle ?? NO_RECYCLING, () => this.serving.counters)
    const beat = setInterval(() => this.primary.send({ type: 'heartbeat' }), Math.max(100, this.config.heartbeatMs / 4))
    beat.unref()
  }

  /** A shutdown is under way (the primary asked, or SIGTERM): the child takes nothing new. */
  get shuttingDown (): boolean { return this.stopping }

  /** The process title `echoplex ps` reads: the role, and the connections this child has served. */
  title (role: string, served = this.serving?.counters.connectionsTotal ?? 0): void {
    process.title = `echoplex ${role} served=${served}`
    if (role !== this.role) {
      // the log lines say the role `ps` shows (a fork child: spare, then connection)
      this.role = role
      process.env.ECHOPLEX_ROLE = role
    }
  }

  /** The logger of the role this process has now, made the first time it has it. */
  private roleLogger (): Logger {
    let logger = this.roleLoggers.get(this.role)
    if (logger === undefined) this.roleLoggers.set(this.role, logger = createLogger({ model: this.config.model, role: this.role }))
    return logger
  }

  /** Never resolves: the process exits once the primary has the reason, and must do nothing else meanwhile. */
  async bootFailed (err: unknown): Promise<never> {
    this.sendAndExit({ type: 'boot-failed', error: describeError(err), code: isEchoplexError(err) ? err.code : undefined }, 1)
    return await new Promise<never>(() => {})
  }

  /** Run before a shutdown drains, within its grace period (a fork child with kernel accept serves the kernel's queue). */
  beforeDrain: ((graceMs: number) => Promise<void>) | undefined

  async shutdown (graceMs: number): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    await this.beforeDrain?.(graceMs)
    const forced = this.serving === undefined ? 0 : await this.serving.drain(graceMs)
    this.sendAndExit({ type: 'bye', counters: this.serving?.counters, forced }, 0)
  }

  /**
   * Sends a last message, then exits once the primary answered a `farewell` (or EXIT_FLUSH_MS later,
   * if it cannot). Its answer comes after everything it sent before, a connection's socket on its way
   * included (cluster rr's hand-off, fork's): this process has then taken or refused it. Exiting with
   * one still in the pipe made the primary close its copy, and that client was reset (cluster rr,
   * rolling restarts under churn: 0–2 resets in three).
   */
  sendAndExit (message: ChildToPrimary, code: number): void {
    if (!this.primary.send(message)) this.exit(code)
    // the request settles within EXIT_FLUSH_MS (answered, timed out, or the channel closed)
    void this.primary.request({ type: 'farewell' }, { timeoutMs: EXIT_FLUSH_MS }).catch(() => {}).finally(() => this.exit(code))
  }

  exit (code: number): never {
    process.exit(code)
  }

  private orphaned (): void {
    this.primary.failPending('primary is gone')
    if (this.stopping) return
    this.logger.warn('primary is gone; exiting')
    for (const conn of this.serving?.connections ?? []) conn.destroy()
    process.exit(0)
  }
}
