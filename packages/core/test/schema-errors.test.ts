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

t.test('an anyOf without a hint says what it accepts, or what the branch the user was writing lacks', async (t) => {
  const workers = [err('type', '/workers', { type: 'integer' }, 'must be integer'), err('const', '/workers', { allowedValue: 'cores' }, 'must be equal to constant'), err('anyOf', '/workers', {}, 'must match a schema in anyOf')]
  t.equal(describeSchemaError(workers), '/workers: must be integer or "cores"')
  const model = [err('type', '/models/0', { type: 'string' }, 'must be string'), err('type', '/models/0/spares', { type: 'integer' }, 'must be integer'), err('anyOf', '/models/0', {}, 'must match a schema in anyOf')]
  t.equal(describeSchemaError(model), '/models/0/spares: must be integer')
  const odd = [err('pattern', '/x', {}, 'must match pattern "^a"'), err('anyOf', '/x', {}, 'must match a schema in anyOf')]
  t.equal(describeSchemaError(odd), '/x: must match a schema in anyOf', 'ajv\'s own words when the branches are not simple')
})
