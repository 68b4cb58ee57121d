/**
 * One error shape for the whole app: `{ statusCode, error, message }` (and `code`, for echoplex's
 * catalogued errors) as JSON for the API, an HTML page for pages (routes with `config.page`). The
 * status of a catalogued error is its catalogue entry's; schema validation errors become one line
 * worded by core's describeSchemaError.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { describeSchemaError, isEchoplexError, type SchemaError } from '@echoplex/core'
import { CSP, errorPage } from './html.js'

/** Route config: `page` = answer errors with HTML; `hints` = messages for validation errors by data path. */
export interface RouteHints {
  page?: boolean
  /** key: `querystring/port`, `body/models/0`, `params/name`, or a context alone (`querystring`) for errors on the whole object */
  hints?: Record<string, string>
}

function isPage (request: FastifyRequest): boolean {
  return (request.routeOptions.config as RouteHints | undefined)?.page === true
}

export function sendError (request: FastifyRequest, reply: FastifyReply, statusCode: number, message: string, extra: Record<string, unknown> = {}): FastifyReply {
  reply.code(statusCode)
  if (isPage(request)) {
    return reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(errorPage(statusCode, message))
  }
  return reply.type('application/json; charset=utf-8').send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, ...extra })
}

export function installErrorHandling (app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError & { validationContext?: string, run?: unknown }, request, reply) => {
    if (error.validation !== undefined) {
      const hints = (request.routeOptions.config as RouteHints | undefined)?.hints ?? {}
      return sendError(request, reply, 400, describeSchemaError(error.validation as SchemaError[], { context: error.validationContext ?? 'request', hints }))
    }
    const extra = isEchoplexError(error) ? { code: error.code } : {}
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      return sendError(request, reply, status, status === 500 ? `internal error: ${error.message.split('\n')[0]}` : error.message, extra)
    }
    // body parser errors (bad JSON, wrong content type, too large) keep their status and message
    return sendError(request, reply, status, error.message.split('\n')[0] ?? 'bad request', extra)
  })
  app.setNotFoundHandler((request, reply) => {
    const html = request.method === 'GET' && !request.url.startsWith('/api/') && (request.headers.accept ?? '').includes('text/html')
    reply.code(404)
    if (html) return reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(errorPage(404, `no page at ${request.url.split('?')[0]}`))
    return reply.send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` })
  })
}
