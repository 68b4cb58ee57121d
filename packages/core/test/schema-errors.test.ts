import t from 'tap'
import { describeSchemaError, type SchemaError } from '../src/schema-errors.js'

const err = (keyword: string, instancePath: string, params: Record<string, unknown> = {}, message?: string): SchemaError =>
  ({ keyword, instancePath, params, ...(message === undefined ? {} : { message }) })

t.test('a file: places as JSON pointers, the top level as (top level)', async (t) => {
  t.equal(describeSchemaError([err('required', '', { missingProperty: 'name' })]), '(top level): missing "name"')
  t.equal(describeSchemaError([err('additionalProperties', '/workloads/0', { additionalProperty: 'x' })]), '/workloads/0: unknown field "x"')
  t.equal(describeSchemaError([err('enum', '/modes/0', { allowedValues: ['keep-alive', 'churn'] })]), '/modes/0: must be one of: "keep-alive", "churn"')
  t.equal(describeSchemaError([err('const', '/schemaVersion', { allowedValue: 1 })]), '/schemaVersion: must be 1')
  t.equal(describeSchemaError([err('type', '/repetitions', {}, 'must be integer')]), '/repetitions: must be integer')
  t.equal(describeSchemaError([]), 'does not match the schema')
  t.equal(describeSchemaError(null), 'does not match the schema')
})

t.test('a request: places as fields, the top level as the context, hints replace ajv', async (t) => {
  const hints = { 'body/peers': 'must be true, false, or a list of peers', 'body/suite': 'must be the name of a suite' }
  t.equal(describeSchemaError([err('required', '', { missingProperty: 'suite' })], { context: 'body', hints }), 'body: missing "suite" (must be the name of a suite)')
  t.equal(describeSchemaError([err('minimum', '/connections/0', {}, 'must be >= 1')], { context: 'body', hints }), 'connections.0: must be >= 1')
  t.equal(describeSchemaError([err('pattern', '/suite', {}, 'must match pattern')], { context: 'body', hints }), 'suite: must be the name of a suite')
  t.equal(describeSchemaError([], { context: 'querystring' }), 'invalid querystring')
})

t.test('a composite keyword is described, not the branch errors listed before it', async (t) => {
  const errors = [err('type', '/peers', {}, 'must be boolean'), err('type', '/peers', {}, 'must be array'), err('anyOf', '/peers', {}, 'must match a schema in anyOf')]
  t.equal(describeSchemaError(errors, { context: 'body', hints: { 'body/peers': 'must be true, false, or a list of peers' } }), 'peers: must be true, false, or a list of peers')
  t.equal(describeSchemaError([err('enum', '', { allowedValues: ['id'] }), err('propertyNames', '', { propertyName: 'x' })], { context: 'querystring' }), 'querystring: unknown field "x"')
})
