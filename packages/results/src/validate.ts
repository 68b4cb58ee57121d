/**
 * JSON Schema validation (ajv) with one-line error messages.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'

const ajv = new Ajv({ allErrors: false, strict: false, allowUnionTypes: true })
const compiled = new WeakMap<object, ValidateFunction>()

/** Compiles (once) and returns a validator for `schema`. */
export function validatorFor (schema: object): ValidateFunction {
  let v = compiled.get(schema)
  if (v === undefined) {
    v = ajv.compile(schema)
    compiled.set(schema, v)
  }
  return v
}

/** One line for the first ajv error: `/workloads/0/handler: must be string`. */
export function describeSchemaError (errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0]
  if (e === undefined) return 'does not match the schema'
  const where = e.instancePath === '' ? '(top level)' : e.instancePath
  let what = e.message ?? 'is invalid'
  if (e.keyword === 'additionalProperties') what = `unknown property "${String((e.params as { additionalProperty?: string }).additionalProperty)}"`
  else if (e.keyword === 'enum') what = `must be one of ${((e.params as { allowedValues?: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`
  else if (e.keyword === 'const') what = `must be ${JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)}`
  return `${where}: ${what}`
}

/** Validates `data` against `schema`; returns null when valid, else the one-line error. */
export function checkSchema (schema: object, data: unknown): string | null {
  const v = validatorFor(schema)
  return v(data) ? null : describeSchemaError(v.errors)
}
