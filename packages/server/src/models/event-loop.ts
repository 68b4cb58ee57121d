import { LocalExecutor, LocalHub, catchHandlerFaults, createLogger, describeError, errors, exitProcess } from '@echoplex/core'
import type { ModelStats, StopResult } from '../model.js'
import { BaseModel } from '../model-base.js'
import { defineModel } from '../model.js'
import { ConnectionServer } from '../connection-server.js'
import { loadHandler } from '../handler-loader.js'
import { ListenerSource } from '../sources/listener.js'

/**
 * One process, one thread: libuv multiplexes every non-blocking socket. The cheapest per connection;
 * a handler that never returns blocks every connection (the one thing this model cannot pre-empt).
 */
export class EventLoopModel extends BaseModel {
  readonly name = 'event-loop' as const
  private serving: ConnectionServer | undefined

  async start (): Promise<string> {
    process.env.ECHOPLEX_ROLE ??= 'primary'
    const handler = await loadHandler(this.options.handlerPath)
    // one process serves every connection: a handler calling process.exit must fail its own
    // connection, not end the server (echoplex itself exits through exitProcess)
    process.exit = ((code?: number) => { throw errors.HANDLER_EXIT(code ?? 0) }) as typeof process.exit
    const logger = createLogger({ model: this.name })
    // a handler's throw from a timer closes its own connection; one nobody owns is echoplex's: exit
    catchHandlerFaults(logger, (err) => { logger.fatal({ err: describeError(err) }, 'uncaught exception; exiting'); exitProcess(1) })
    const { limits } = this.options
    this.serving = new ConnectionServer({ executor: new LocalExecutor(handler), hub: new LocalHub(), limits, model: this.name, logger, proxyProtocol: this.options.proxyProtocol })
    this.listeningAt = await this.serving.serve(new ListenerSource({ target: this.options.listen, limits, logger }))
    return this.listeningAt!
  }

  async stats (): Promise<ModelStats> {
    return this.envelope(this.serving!.counters)
  }

  async stop (graceMs = this.options.limits.graceMs): Promise<StopResult> {
    if (this.serving === undefined) return { forced: 0 }
    return { forced: await this.serving.drain(graceMs) }
  }
}

export default defineModel({
  name: 'event-loop',
  summary: 'one process, one thread: libuv multiplexes every non-blocking socket',
  create: async (options) => new EventLoopModel(options),
  options: [],
  roles: ['primary'],
  rollingRestart: false,
  bench: { workers: false, spares: false },
  suites: {
    conformanceArgs: [],
    faultArgs: [],
    onHandlerExit: 'turned into an error: only its connection closed',
    onStuckHandler: null,
    sharesProcessesAcrossConnections: false,
  },
})
