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

/** One line for a validation error: `where: what`, e.g. `/workloads/0: missing "handler"`. */
export function describeSchemaError (errors: readonly SchemaError[] | null | undefined, { context, hints = {} }: SchemaErrorContext = {}): string {
  const e = errors?.find((x) => COMPOSITE.includes(x.keyword)) ?? errors?.[0]
  if (e === undefined) return context === undefined ? 'does not match the schema' : `invalid ${context}`
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
      return `${where}: ${hint ?? e.message ?? 'is invalid'}`
  }
}
