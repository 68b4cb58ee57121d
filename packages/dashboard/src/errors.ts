/**
 * One error shape for the whole app: `{ statusCode, error, message }` as JSON for the API, an HTML page
 * for pages (routes with `config.page`). Schema validation errors become one readable line.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { CSP, errorPage } from './html.js'

/** Route config: `page` = answer errors with HTML; `hints` = messages for validation errors by data path. */
export interface RouteHints {
  page?: boolean
  /** key: `querystring/port`, `body/models/0`, `params/name`, or a context alone (`querystring`) for errors on the whole object */
  hints?: Record<string, string>
}

interface AjvError {
  keyword: string
  instancePath: string
  message?: string
  params: Record<string, unknown>
}

const COMPOSITE = ['propertyNames', 'anyOf', 'oneOf', 'not', 'dependencies', 'dependentRequired']

/**
 * One line for a validation error. Ajv lists the errors of a composite keyword's branches before
 * the composite itself: the composite (anyOf, not, propertyNames …) is what the user got wrong.
 */
export function describeValidation (errors: AjvError[], context: string, hints: Record<string, string> = {}): string {
  const e = errors.find((x) => COMPOSITE.includes(x.keyword)) ?? errors[0]
  if (e === undefined) return `invalid ${context}`
  const path = `${context}${e.instancePath}`
  const field = e.instancePath === '' ? context : e.instancePath.slice(1).replace(/\//g, '.')
  const hint = hints[path] ?? hints[path.replace(/\/\d+$/, '')]
  switch (e.keyword) {
    case 'required': {
      const missing = String(e.params.missingProperty)
      const about = hints[`${path}/${missing}`]
      return `${field}: missing "${missing}"${about === undefined ? '' : ` (${about})`}`
    }
    case 'additionalProperties':
      return `${field}: unknown field "${String(e.params.additionalProperty)}"`
    case 'propertyNames':
      return `${field}: unknown field "${String(e.params.propertyName)}"`
    case 'enum':
      if (hint !== undefined) return `${field}: ${hint}`
      return `${field} must be one of: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
    default:
      if (hint !== undefined) return `${field}: ${hint}`
      return `${field} ${e.message ?? 'is invalid'}`
  }
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
      return sendError(request, reply, 400, describeValidation(error.validation as AjvError[], error.validationContext ?? 'request', hints))
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      return sendError(request, reply, status, status === 500 ? `internal error: ${error.message.split('\n')[0]}` : error.message)
    }
    // body parser errors (bad JSON, wrong content type, too large) keep their status and message
    return sendError(request, reply, status, error.message.split('\n')[0] ?? 'bad request')
  })
  app.setNotFoundHandler((request, reply) => {
    const html = request.method === 'GET' && !request.url.startsWith('/api/') && (request.headers.accept ?? '').includes('text/html')
    reply.code(404)
    if (html) return reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(errorPage(404, `no page at ${request.url.split('?')[0]}`))
    return reply.send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` })
  })
}
