import t from 'tap'
import { errors, EchoplexError, describeError, entryOptions } from '../src/errors.js'

t.test('errors carry stable codes and one-line messages', async (t) => {
  const err = errors.FRAME_TOO_LARGE(2 ** 31, 1024)
  t.ok(err instanceof EchoplexError)
  t.equal(err.code, 'EPX_FRAME_TOO_LARGE')
  t.equal(errors.FRAME_TOO_LARGE.code, 'EPX_FRAME_TOO_LARGE')
  t.notMatch(err.message, /\n/)
  t.equal(errors.BAD_OPTION('--port', 'x').exitCode, 2)
  t.equal(describeError(new Error('a\nb')), 'a')
})

t.test('catalogue entries carry the HTTP status the dashboard answers with', async (t) => {
  t.equal(errors.RUN_IN_PROGRESS.statusCode, 409)
  const e = errors.RUN_NOT_FOUND('0123456789ab', 'runs are kept while the dashboard runs')
  t.match(e, { code: 'EPX_RUN_NOT_FOUND', statusCode: 404, exitCode: 1, message: 'no run 0123456789ab (runs are kept while the dashboard runs)' })
  t.equal(errors.BAD_RESULTS('x').statusCode, 422)
  t.equal(errors.FRAME_TOO_LARGE(2, 1).statusCode, undefined, 'a server error has none')
  class Sub extends EchoplexError {
    override name = 'Sub'
    constructor (message: string) { super(errors.BAD_SUITE.code, message, entryOptions(errors.BAD_SUITE)) }
  }
  t.match(new Sub('bad'), { name: 'Sub', code: 'EPX_BAD_SUITE', exitCode: 2, statusCode: 400, message: 'bad' })
})
