import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describeError } from '@echoplex/core'

const JS_FILE = /\.(m|c)?js$/i

/**
 * Why a handler module failed to import, with where when it can be told: `file:line[:column]`.
 * Node puts a syntax error's place in the stack for TypeScript it strips, and tsx's esbuild puts it
 * in the message; an error thrown while the module ran has it in its first frame. For a JavaScript
 * syntax error V8 keeps the place to itself unless the error is uncaught, so `node --check` is asked.
 */
export function describeLoadError (err: unknown, path: string): string {
  const where = locate(err, path)
  const why = esbuildError(err)?.text ?? describeError(err)
  return where === undefined || why.includes(where) ? why : `${why} (at ${where})`
}

function locate (err: unknown, path: string): string | undefined {
  if (!(err instanceof Error)) return undefined
  const stack = err.stack ?? ''
  const heading = syntaxHeading(stack)
  if (heading !== undefined) return heading
  const esbuild = esbuildError(err)
  if (esbuild !== undefined) return esbuild.where
  if (err.name === 'SyntaxError') return JS_FILE.test(path) ? checkSyntax(path) : undefined
  // thrown while a module body ran: the first frame in the user's files, not Node's, echoplex's or a package's
  for (const frame of stack.matchAll(/^\s+at (?:.*? \()?((?:file:\/\/)?\/[^\s()]+?):(\d+):(\d+)\)?$/gm)) {
    const file = filePath(frame[1]!)
    if (!file.includes('/node_modules/') && !file.startsWith(ECHOPLEX_PACKAGES)) return `${file}:${frame[2]}:${frame[3]}`
  }
  return undefined
}

// packages/<name>/dist/… of this echoplex (a workspace checkout; an install is under node_modules)
const ECHOPLEX_PACKAGES = fileURLToPath(new URL('../../../', import.meta.url))

/**
 * Node's decorated syntax error: "<file>:<line>", the source line(s), a caret line. The column is
 * the caret's when exactly one source line precedes it (V8's form; Node's TypeScript shows context).
 */
function syntaxHeading (text: string): string | undefined {
  const m = /^((?:file:\/\/)?\/[^\n]*?):(\d+)\n(?:[^\n]*\n( *)\^)?/.exec(text)
  if (m === null) return undefined
  return `${filePath(m[1]!)}:${m[2]}${m[3] === undefined ? '' : `:${m[3].length + 1}`}`
}

/** esbuild's (tsx's) "Transform failed with 1 error:\n/dir/h.ts:3:28: ERROR: Expected …". */
function esbuildError (err: unknown): { where: string, text: string } | undefined {
  if (!(err instanceof Error)) return undefined
  const m = /^((?:file:\/\/)?\/[^\n]*?):(\d+):(\d+): ERROR: ([^\n]*)/m.exec(err.message)
  return m === null ? undefined : { where: `${filePath(m[1]!)}:${m[2]}:${Number(m[3]) + 1}`, text: m[4]! }
}

function checkSyntax (path: string): string | undefined {
  const check = spawnSync(process.execPath, ['--check', path], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, NODE_OPTIONS: '' } })
  return syntaxHeading(check.stderr ?? '')
}

const filePath = (fileOrUrl: string): string => fileOrUrl.startsWith('file:') ? fileURLToPath(fileOrUrl) : fileOrUrl
