import t from 'tap'
import { connectionBudget, openFilesLimit } from '../src/descriptors.js'

t.test('connections are capped to what the open-files limit leaves after the reserve', async (t) => {
  t.equal(connectionBudget(10_000, 96), 64, 'ulimit -n 96 → 64 connections')
  t.equal(connectionBudget(50, 20_000), 50, 'a lower configured limit stands')
  t.equal(connectionBudget(10_000, 40), 20, 'a tiny limit keeps half for the process itself')
  t.equal(connectionBudget(10_000, undefined), 10_000, 'unknown limit: as configured')
  const limit = openFilesLimit()
  t.ok(limit === undefined || limit > 0, `this process: ${limit}`)
})
