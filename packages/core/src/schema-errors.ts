/**
 * The one way a JSON Schema (ajv) validation error becomes a line for the user: suite files, results
 * files and the dashboard's request validation all say it the same way.
 */

/** The fields of an ajv ErrorObject this reads (fastify's validation errors have them too). */
export interface SchemaError {
  keyword: string
  instancePath: string
  message?: string
  params: Record<string, unknown>
}

export interface SchemaErrorContext {
  /**
   * What was validated (`body`, `querystring`, `params`): the top level is named by it and places
   * as fields (`models.0`). Without it, the top level is `(top level)` and places are JSON pointers
   * (`/models/0`), as in a file.
   */
  context?: string
  /** Messages replacing ajv's, by data path: `body/models/0`, `querystring/port`, or a context alone. */
  hints?: Record<string, string>
}

/** Keywords whose branches' errors ajv lists before their own: the composite is what the user got wrong. */
const COMPOSITE = ['propertyNames', 'anyOf', 'oneOf', 'not', 'dependencies', 'dependentRequired']

/** What one failed branch of an anyOf/oneOf wanted (`integer`, `"cores"`), null when it is not that simple. */
function wanted (e: SchemaError): string | null {
  if (e.keyword === 'type') return String(e.params.type)
  if (e.keyword === 'const') return JSON.stringify(e.params.allowedValue)
  if (e.keyword === 'enum') return ((e.params.allowedValues as unknown[] | undefined) ?? []).map((v) => JSON.stringify(v)).join(' or ')
  return null
}

/**
 * An anyOf/oneOf said as what it accepts: the branch error that got furthest into the data (the
 * branch the user was writing) when one got past the composite's own place, else `must be A or B`.
 */
function alternatives (errors: readonly SchemaError[], composite: SchemaError): SchemaError | string | null {
  const branches = errors.filter((x) => x !== composite && x.instancePath.startsWith(composite.instancePath) && !COMPOSITE.includes(x.keyword))
  const deeper = branches.filter((x) => x.instancePath.length > composite.instancePath.length)
  if (deeper.length > 0) return deeper.reduce((a, b) => b.instancePath.length > a.instancePath.length ? b : a)
  const wants = branches.map(wanted)
  if (wants.length === 0 || wants.includes(null)) return null
  return `must be ${[...new Set(wants)].join(' or ')}`
}

/** One line for a validation error: `where: what`, e.g. `/workloads/0: missing "handler"`. */
export function describeSchemaError (errors: readonly SchemaError[] | null | undefined, { context, hints = {} }: SchemaErrorContext = {}): string {
  let e = errors?.find((x) => COMPOSITE.includes(x.keyword)) ?? errors?.[0]
  if (e === undefined) return context === undefined ? 'does not match the schema' : `invalid ${context}`
  let said: string | null = null
  if ((e.keyword === 'anyOf' || e.keyword === 'oneOf') && hints[`${context ?? ''}${e.instancePath}`] === undefined) {
    const alt = alternatives(errors!, e)
    if (typeof alt === 'string') said = alt
    else if (alt !== null) e = alt
  }
  const where = context === undefined
    ? (e.instancePath === '' ? '(top level)' : e.instancePath)
    : (e.instancePath === '' ? context : e.instancePath.slice(1).replace(/\//g, '.'))
  const path = `${context ?? ''}${e.instancePath}`
  const hint = hints[path] ?? hints[path.replace(/\/\d+$/, '')]
  switch (e.keyword) {
    case 'required': {
      const missing = String(e.params.missingProperty)
      const about = hints[`${path}/${missing}`]
      return `${where}: missing "${missing}"${about === undefined ? '' : ` (${about})`}`
    }
    case 'additionalProperties':
      return `${where}: unknown field "${String(e.params.additionalProperty)}"`
    case 'propertyNames':
      return `${where}: unknown field "${String(e.params.propertyName)}"`
    case 'enum':
      return `${where}: ${hint ?? `must be one of: ${((e.params.allowedValues as unknown[] | undefined) ?? []).map((v) => JSON.stringify(v)).join(', ')}`}`
    case 'const':
      return `${where}: ${hint ?? `must be ${JSON.stringify(e.params.allowedValue)}`}`
    default:
      return `${where}: ${hint ?? said ?? e.message ?? 'is invalid'}`
  }
}
