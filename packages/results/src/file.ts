/**
 * Reading (validated, one-line errors) and writing (atomic) results files.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { EchoplexError, entryOptions, errors } from '@echoplex/core'
import type { Results } from './results.js'
import { READABLE_SCHEMA_VERSIONS, RESULTS_SCHEMA_VERSION, resultsSchema } from './schema.js'
import { checkSchema } from './validate.js'

/** A results file that cannot be read as results: EPX_BAD_RESULTS (a usage error, exit 2; HTTP 422). */
export class ResultsError extends EchoplexError {
  override name = 'ResultsError'
  constructor (message: string, cause?: unknown) {
    super(errors.BAD_RESULTS.code, message, entryOptions(errors.BAD_RESULTS, cause))
  }
}

/** Validates parsed results; returns null when valid, else a one-line reason. */
export function validateResults (data: unknown): string | null {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return 'not a results object'
  const v = (data as { schemaVersion?: unknown }).schemaVersion
  if (v === undefined) return 'no schemaVersion: not an echoplex results file'
  if (typeof v !== 'number' || !READABLE_SCHEMA_VERSIONS.includes(v)) {
    return `schemaVersion ${JSON.stringify(v)} is not supported (this echoplex reads ${READABLE_SCHEMA_VERSIONS.join(' and ')}; it writes ${RESULTS_SCHEMA_VERSION})`
  }
  return checkSchema(resultsSchema, data)
}

/**
 * JSON.parse's reason, whole: it may quote the text around the error, newlines included (the message
 * is made one line by EchoplexError, not cut at the first newline); with where it is as line:column.
 */
function jsonProblem (e: Error, text: string): string {
  const msg = e.message.replace(/\s*\n\s*/g, ' ')
  const pos = /at position (\d+)/.exec(msg)
  if (pos === null || /\(line \d+ column \d+\)/.test(msg)) return msg
  const before = text.slice(0, Number(pos[1]))
  const line = before.split('\n').length
  return `${msg} (line ${line} column ${before.length - before.lastIndexOf('\n')})`
}

/** Reads and validates a results file; throws a ResultsError with a one-line reason. */
export function readResults (path: string): Results {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new ResultsError(`${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message.split('\n')[0]}`, e)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    throw new ResultsError(`${path}: not valid JSON: ${jsonProblem(e as Error, text)}`, e)
  }
  const err = validateResults(data)
  if (err !== null) throw new ResultsError(`${path}: invalid results: ${err}`)
  return data as Results
}

/** Writes results atomically (temp file + rename), creating the folder. */
export function writeResults (path: string, results: Results): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(results, null, 2)}\n`)
  renameSync(tmp, path)
}
