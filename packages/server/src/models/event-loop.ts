import { LocalExecutor, LocalHub, createLogger, errors } from '@echoplex/core'
import type { ConcurrencyModel, ModelStats, ServeOptions, StopResult } from '../model.js'
import { ConnectionServer } from '../connection-server.js'
import { loadHandler } from '../handler-loader.js'
import { listen } from '../listen.js'

/**
 * One process, one thread: libuv multiplexes every non-blocking socket. The cheapest per connection;
 * a handler that never returns blocks every connection (the one thing this model cannot pre-empt).
 */
export class EventLoopModel implements ConcurrencyModel {
  readonly name = 'event-loop' as const
  private serving: ConnectionServer | undefined
  private listeningAt: string | undefined
  private readonly startedAt = Date.now()

  constructor (private readonly options: ServeOptions) {}

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    const handler = await loadHandler(this.options.handlerPath)
    // one process serves every connection: a handler calling process.exit must fail its own
    // connection, not end the server (echoplex itself exits through exitProcess)
    process.exit = ((code?: number) => { throw errors.HANDLER_EXIT(code ?? 0) }) as typeof process.exit
    this.serving = new ConnectionServer({
      executor: new LocalExecutor(handler),
      hub: new LocalHub(),
      limits: this.options.limits,
      model: this.name,
      logger: createLogger({ model: this.name }),
      proxyProtocol: this.options.proxyProtocol,
    })
    this.listeningAt = await listen(this.serving.server, this.options.listen)
    return this.listeningAt
  }

  address (): string | undefined { return this.listeningAt }

  async stats (): Promise<ModelStats> {
    return {
      model: this.name,
      pid: process.pid,
      uptimeMs: Date.now() - this.startedAt,
      ...this.serving!.counters,
      extra: {},
    }
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    if (this.serving === undefined) return { forced: 0 }
    return { forced: await this.serving.drain(graceMs) }
  }
}
