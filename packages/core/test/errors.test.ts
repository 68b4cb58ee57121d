import t from 'tap'
import { errors, EchoplexError, describeError } from '../src/errors.js'

t.test('errors carry stable codes and one-line messages', async (t) => {
  const err = errors.FRAME_TOO_LARGE(2 ** 31, 1024)
  t.ok(err instanceof EchoplexError)
  t.equal(err.code, 'EPX_FRAME_TOO_LARGE')
  t.equal(errors.FRAME_TOO_LARGE.code, 'EPX_FRAME_TOO_LARGE')
  t.notMatch(err.message, /\n/)
  t.equal(errors.BAD_OPTION('--port', 'x').exitCode, 2)
  t.equal(describeError(new Error('a\nb')), 'a')
})
