/**
 * The echoplex dashboard: a fastify plugin app. fastify-cli loads this module's default export:
 *
 *   fastify start -l info -a 127.0.0.1 -p 3000 packages/dashboard/dist/app.js [-- --results-dir DIR]
 *
 * (`echoplex dashboard` starts the same app programmatically, see server.ts.)
 *
 * Pages: /  (results list), /runs/:name (a run's report), /compare, /runs/new (start a suite, watch
 * it), /ps (a running server's process tree). API: /api/results, /api/results/:name, /api/runs,
 * /api/runs/:id, /api/runs/:id/events (SSE), /api/ps.
 */
import { resolve } from 'node:path'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import { RESULTS_DIR, SUITES_DIR } from '@echoplex/results'
import { isLoopback } from '@echoplex/core'
import type { DashboardContext } from './context.js'
import { installErrorHandling, sendError } from './errors.js'
import { ResultsStore } from './results-store.js'
import { RunManager } from './runs.js'
import { registerCompareRoutes } from './routes/compare.js'
import { registerPsRoutes } from './routes/ps.js'
import { registerResultsRoutes } from './routes/results.js'
import { registerRunRoutes } from './routes/runs.js'

export interface DashboardOptions {
  /** where results files are listed, read and written; default $ECHOPLEX_RESULTS_DIR or benchmarks/results/ */
  resultsDir?: string
  /** where suites are looked up by name; default $ECHOPLEX_SUITES_DIR or benchmarks/suites/ */
  suitesDir?: string
  /** the echoplex launcher the runner starts servers with (tests) */
  echoplexBin?: string
  /** log a warning when listening beyond loopback; default true (`echoplex dashboard` prints its own) */
  bindWarning?: boolean
}

const pick = (...values: Array<unknown>): string | undefined =>
  values.find((v): v is string => typeof v === 'string' && v !== '')

/** The host name of a Host header (`[::1]:3000` → `[::1]`), null when it cannot be parsed. */
function hostOf (header: string | undefined): string | null {
  if (header === undefined || header === '') return null
  try {
    return new URL(`http://${header}`).hostname
  } catch {
    return null
  }
}

async function dashboard (app: FastifyInstance, opts: DashboardOptions & Record<string, unknown>): Promise<void> {
  // fastify-cli passes `-- --results-dir DIR` as resultsDir (yargs camel-cases it)
  const resultsDir = resolve(pick(opts.resultsDir, opts.results, process.env.ECHOPLEX_RESULTS_DIR) ?? RESULTS_DIR)
  const suitesDir = resolve(pick(opts.suitesDir, process.env.ECHOPLEX_SUITES_DIR) ?? SUITES_DIR)
  const ctx: DashboardContext = {
    resultsDir,
    suitesDir,
    store: new ResultsStore(resultsDir),
    runs: new RunManager({ resultsDir, ...(opts.echoplexBin === undefined ? {} : { echoplexBin: opts.echoplexBin }) }),
  }
  app.decorate('echoplex', ctx)
  installErrorHandling(app)
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    return payload
  })
  app.addHook('onListen', async () => {
    const bound = app.server.address()
    if (opts.bindWarning !== false && bound !== null && typeof bound !== 'string' && !isLoopback(bound.address)) {
      app.log.warn(`the dashboard listens on ${bound.address}: anyone who can reach it can read results and start benchmark runs (bind 127.0.0.1 with --address)`)
    }
  })
  // DNS rebinding: a dashboard bound to loopback answers only requests addressed to a loopback name
  app.addHook('onRequest', async (request, reply) => {
    const bound = app.server.address()
    if (bound === null || typeof bound === 'string' || !isLoopback(bound.address)) return
    const host = hostOf(request.headers.host)
    if (host !== null && isLoopback(host)) return
    return await sendError(request, reply, 403, `Host ${JSON.stringify(request.headers.host ?? '')} refused: this dashboard only answers requests to 127.0.0.1, localhost or [::1]`)
  })
  registerResultsRoutes(app, ctx)
  registerCompareRoutes(app, ctx)
  registerRunRoutes(app, ctx)
  registerPsRoutes(app, ctx)
}

declare module 'fastify' {
  interface FastifyInstance {
    echoplex: DashboardContext
  }
}

/** Server options for `fastify start --options`: what `echoplex dashboard` uses too. */
export const options: FastifyServerOptions = {
  // a stopping dashboard ends its event streams itself (preClose); idle keep-alive sockets need not wait
  forceCloseConnections: 'idle',
  bodyLimit: 64 * 1024,
}

export default fp(dashboard, { name: 'echoplex-dashboard', fastify: '5.x' })
