/**
 * JSON Schema validation (ajv), errors worded by core's describeSchemaError.
 */
import { Ajv, type ValidateFunction } from 'ajv'
import { describeSchemaError } from '@echoplex/core'

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

/** Validates `data` against `schema`; returns null when valid, else the one-line error. */
export function checkSchema (schema: object, data: unknown): string | null {
  const v = validatorFor(schema)
  return v(data) ? null : describeSchemaError(v.errors)
}
