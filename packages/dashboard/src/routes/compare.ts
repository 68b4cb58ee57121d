/** Compare two runs: a form, or the comparison of ?base= and ?head=. */
import type { FastifyInstance } from 'fastify'
import { compareResults, renderCompareHtml } from '@echoplex/report'
import type { DashboardContext } from '../context.js'
import { NAME_HINT } from '../context.js'
import { CSP, page } from '../html.js'
import { NAME_PATTERN } from '../results-store.js'
import { compareForm, withBackLink } from './results.js'

const query = {
  type: 'object',
  properties: {
    base: { type: 'string', pattern: NAME_PATTERN },
    head: { type: 'string', pattern: NAME_PATTERN },
  },
  propertyNames: { enum: ['base', 'head'] },
  dependencies: { base: ['head'], head: ['base'] },
} as const

const hints = {
  querystring: 'give both base and head (two results file names), or neither for the form',
  'querystring/base': NAME_HINT,
  'querystring/head': NAME_HINT,
}

export function registerCompareRoutes (app: FastifyInstance, ctx: DashboardContext): void {
  app.get<{ Querystring: { base?: string, head?: string } }>('/compare', { schema: { querystring: query }, config: { page: true, hints } }, async (request, reply) => {
    reply.header('content-security-policy', CSP).type('text/html; charset=utf-8')
    const { base, head } = request.query
    if (base === undefined || head === undefined) {
      const body = `<h1>Compare two runs</h1>\n${compareForm(ctx.store.list(ctx.runs.current?.resultsName ?? null))}`
      return reply.send(page({ title: 'Compare', body }))
    }
    const comparison = compareResults(ctx.store.read(base), ctx.store.read(head), { basePath: base, headPath: head })
    return reply.send(withBackLink(renderCompareHtml(comparison)))
  })
}
