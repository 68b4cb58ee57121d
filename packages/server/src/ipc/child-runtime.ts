import type { Socket } from 'node:net'
import { LocalExecutor, createLogger, describeError, isEchoplexError, type Logger } from '@echoplex/core'
import { ConnectionServer } from '../connection-server.js'
import { loadHandler } from '../handler-loader.js'
import { ChildHub, sendToPrimary } from './child-hub.js'
import { CHILD_CONFIG_ENV, type ChildConfig, type ChildToPrimary, type PrimaryToChild } from './protocol.js'

/** How long a child waits for its last IPC message to leave before exiting anyway. */
const EXIT_FLUSH_MS = 500

/**
 * What every child process of a multi-process model runs: load the handler itself (by path), serve
 * connections with the same runtime as the event loop, answer the primary, and die with it — a child
 * whose IPC channel closes exits at once, so a SIGKILLed primary leaves no orphans.
 */
export class ChildRuntime {
  readonly config: ChildConfig
  readonly hub = new ChildHub()
  readonly logger: Logger
  serving!: ConnectionServer
  private stopping = false
  onSocket: ((socket: Socket, message: Extract<PrimaryToChild, { t: 'socket' }>) => void) | undefined

  constructor (role: string) {
    this.config = JSON.parse(process.env[CHILD_CONFIG_ENV] ?? '{}') as ChildConfig
    process.env.ECHOPLEX_ROLE = role
    this.logger = createLogger({ model: this.config.model, role })
    process.on('disconnect', () => this.orphaned())
    // the terminal's Ctrl+C reaches the whole process group; the primary decides how we stop
    process.on('SIGINT', () => {})
    process.on('SIGUSR2', () => {}) // the primary's stats signal, if sent to the whole group
    process.on('SIGHUP', () => {}) // the primary's rolling restart, or a closed terminal: the primary decides
    process.on('SIGTERM', () => { void this.shutdown(this.config.limits.graceMs) })
    process.on('uncaughtException', (err) => {
      this.logger.fatal({ err: describeError(err) }, 'uncaught exception; exiting')
      this.exit(1)
    })
    process.on('unhandledRejection', (err) => {
      this.logger.error({ err: describeError(err) }, 'unhandled rejection (ignored)')
    })
    process.on('message', (message: PrimaryToChild, handle?: unknown) => this.onMessage(message, handle))
  }

  /** Loads the handler; on failure tells the primary why (so it can halt instead of respawning) and exits. */
  async boot (): Promise<void> {
    try {
      const handler = await loadHandler(this.config.handlerPath)
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
    const beat = setInterval(() => sendToPrimary({ t: 'heartbeat' }), Math.max(100, this.config.heartbeatMs / 4))
    beat.unref()
  }

  /** Never resolves: the process exits once the primary has the reason, and must do nothing else meanwhile. */
  async bootFailed (err: unknown): Promise<never> {
    this.sendAndExit({ t: 'boot-failed', error: describeError(err), code: isEchoplexError(err) ? err.code : undefined }, 1)
    return await new Promise<never>(() => {})
  }

  async shutdown (graceMs: number): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    const forced = this.serving === undefined ? 0 : await this.serving.drain(graceMs)
    this.sendAndExit({ t: 'bye', counters: this.serving?.counters, forced } as ChildToPrimary, 0)
  }

  /** Sends a last message, then exits once it has left (or shortly after, if the channel is stuck). */
  sendAndExit (message: ChildToPrimary, code: number): void {
    const timer = setTimeout(() => this.exit(code), EXIT_FLUSH_MS)
    timer.unref()
    if (process.connected && process.send !== undefined) {
      try {
        process.send(message, undefined, {}, () => this.exit(code))
        return
      } catch {}
    }
    this.exit(code)
  }

  exit (code: number): never {
    process.exit(code)
  }

  private orphaned (): void {
    this.hub.failPending()
    if (this.stopping) return
    this.logger.warn('primary is gone; exiting')
    for (const conn of this.serving?.connections ?? []) conn.destroy()
    process.exit(0)
  }

  private onMessage (message: PrimaryToChild, handle: unknown): void {
    if (this.hub.handle(message)) return
    switch (message.t) {
      case 'stats-request':
        sendToPrimary({ t: 'stats', id: message.id, counters: this.serving.counters })
        break
      case 'shutdown':
        this.logger.debug({ graceMs: message.graceMs, connections: this.serving?.connections.size }, 'shutdown requested')
        void this.shutdown(message.graceMs)
        break
      case 'socket':
        if (this.onSocket !== undefined && handle !== undefined) this.onSocket(handle as Socket, message)
        break
    }
  }
}
