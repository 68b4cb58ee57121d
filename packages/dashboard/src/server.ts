/** Starting the dashboard programmatically (what `echoplex dashboard` does): the same app fastify-cli loads. */
import Fastify, { type FastifyInstance } from 'fastify'
import app, { options as serverOptions, type DashboardOptions } from './app.js'

export interface StartDashboardOptions extends DashboardOptions {
  /** default 127.0.0.1 */
  host?: string
  /** default 3000; 0 = any free port */
  port?: number
  /** pino level (fatal … trace, silent); default info */
  logLevel?: string
}

export interface RunningDashboard {
  app: FastifyInstance
  /** http://HOST:PORT (IPv6 hosts bracketed) */
  url: string
  host: string
  port: number
  /** stops the dashboard: aborts a run in progress and stops its server first */
  close: () => Promise<void>
}

export { isLoopback } from '@echoplex/core'

export async function buildDashboard (options: DashboardOptions & { logLevel?: string } = {}): Promise<FastifyInstance> {
  const { logLevel, ...pluginOptions } = options
  const instance = Fastify({ ...serverOptions, logger: { level: logLevel ?? 'info' } })
  await instance.register(app, pluginOptions)
  return instance
}

export async function startDashboard (options: StartDashboardOptions = {}): Promise<RunningDashboard> {
  const { host = '127.0.0.1', port = 3000, ...rest } = options
  const instance = await buildDashboard(rest)
  try {
    await instance.listen({ host, port })
  } catch (e) {
    await instance.close().catch(() => {})
    throw e
  }
  const address = instance.server.address()
  const bound = typeof address === 'object' && address !== null ? address : { address: host, port }
  const h = bound.address.includes(':') ? `[${bound.address}]` : bound.address
  return {
    app: instance,
    url: `http://${h}:${bound.port}`,
    host: bound.address,
    port: bound.port,
    close: async () => { await instance.close() },
  }
}
