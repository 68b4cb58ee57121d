/**
 * The results folder, read safely. A results name is a bare file name (`quick-2025-01-01T00-00-00Z.json`):
 * it must match NAME_PATTERN (no separators, no leading dot) AND, once every symlink is resolved, the
 * file must lie inside the results folder. Anything else is "not found" — never read.
 */
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { join, sep } from 'node:path'
import { EchoplexError, entryOptions, errors } from '@echoplex/core'
import { readResults, ResultsError, type Results } from '@echoplex/results'

/** A results file name: letters, digits, `.`, `_`, `-`, not starting with a dot, ending in `.json`. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\\.json$'
const NAME_RE = new RegExp(NAME_PATTERN)

export const isResultsName = (name: string): boolean => NAME_RE.test(name) && !name.includes('..')

/** No such results file (or one outside the folder): EPX_RESULTS_NOT_FOUND, 404. */
export class NotFoundError extends EchoplexError {
  override name = 'NotFoundError'
  constructor (name: string) {
    super(errors.RESULTS_NOT_FOUND.code, errors.RESULTS_NOT_FOUND(name).message, entryOptions(errors.RESULTS_NOT_FOUND))
  }
}

/** A results file that does not read as results: EPX_BAD_RESULTS, 422. */
export class InvalidResultsError extends EchoplexError {
  override name = 'InvalidResultsError'
  constructor (message: string, cause?: unknown) {
    super(errors.BAD_RESULTS.code, message, entryOptions(errors.BAD_RESULTS, cause))
  }
}

export interface ResultsEntry {
  name: string
  /** the suite's name, null when the file is not valid results */
  suite: string | null
  description: string | null
  startedAt: string | null
  finishedAt: string | null
  durationMs: number | null
  complete: boolean | null
  scenarios: number
  ok: number
  failed: number
  skipped: number
  /** ok | failed | partial | running | invalid */
  status: string
  /** why the file is invalid (one line), else null */
  error: string | null
  sizeBytes: number
  modifiedAt: string
}

interface Cached { mtimeMs: number, size: number, entry: ResultsEntry }

export class ResultsStore {
  readonly dir: string
  private readonly cache = new Map<string, Cached>()

  constructor (dir: string) {
    this.dir = dir
  }

  /** The real path of the folder (null when it does not exist). */
  private realDir (): string | null {
    try {
      return realpathSync(this.dir)
    } catch {
      return null
    }
  }

  /**
   * The path of a results file: only for a valid name of a regular file whose real path is inside
   * the folder. Throws NotFoundError otherwise (without saying why: nothing outside is disclosed).
   */
  resolve (name: string): string {
    const missing = new NotFoundError(name)
    if (!isResultsName(name)) throw missing
    const dir = this.realDir()
    if (dir === null) throw missing
    const candidate = join(dir, name)
    let real: string
    try {
      real = realpathSync(candidate)
    } catch {
      throw missing
    }
    if (!real.startsWith(dir + sep) || real.slice(dir.length + 1).includes(sep)) throw missing
    try {
      if (!statSync(real).isFile()) throw missing
    } catch {
      throw missing
    }
    return real
  }

  /** Whether a name is free (for a new run's file). */
  exists (name: string): boolean {
    return existsSync(join(this.dir, name))
  }

  /** Reads and validates a results file by name (NotFoundError, InvalidResultsError). */
  read (name: string): Results {
    const path = this.resolve(name)
    try {
      return readResults(path)
    } catch (e) {
      if (e instanceof ResultsError) throw new InvalidResultsError(`${name}: ${e.message.slice(e.message.indexOf(': ') + 2)}`, e)
      throw e
    }
  }

  /** Every results file of the folder (newest first); `running` names the file of the run in progress. */
  list (running: string | null = null): ResultsEntry[] {
    const dir = this.realDir()
    if (dir === null) return []
    let names: string[]
    try {
      names = readdirSync(dir).filter(isResultsName)
    } catch {
      return []
    }
    const out: ResultsEntry[] = []
    for (const name of names) {
      let path: string
      try {
        path = this.resolve(name)
      } catch {
        continue // a symlink out of the folder, a directory named *.json …
      }
      let st
      try {
        st = lstatSync(path)
      } catch {
        continue
      }
      const hit = this.cache.get(name)
      let entry: ResultsEntry
      if (hit !== undefined && hit.mtimeMs === st.mtimeMs && hit.size === st.size) {
        entry = hit.entry
      } else {
        entry = describe(name, path, st.size, st.mtime)
        this.cache.set(name, { mtimeMs: st.mtimeMs, size: st.size, entry })
      }
      out.push(entry.status === 'partial' && name === running ? { ...entry, status: 'running' } : entry)
    }
    for (const key of this.cache.keys()) if (!names.includes(key)) this.cache.delete(key)
    return out.sort((a, b) => (b.startedAt ?? b.modifiedAt).localeCompare(a.startedAt ?? a.modifiedAt) || a.name.localeCompare(b.name))
  }
}

function describe (name: string, path: string, size: number, mtime: Date): ResultsEntry {
  const base: ResultsEntry = {
    name,
    suite: null,
    description: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    complete: null,
    scenarios: 0,
    ok: 0,
    failed: 0,
    skipped: 0,
    status: 'invalid',
    error: null,
    sizeBytes: size,
    modifiedAt: mtime.toISOString(),
  }
  let r: Results
  try {
    r = readResults(path)
  } catch (e) {
    const m = (e as Error).message
    return { ...base, error: m.startsWith(path) ? m.slice(path.length + 2) : m }
  }
  const count = (status: string): number => r.scenarios.filter((s) => s.status === status).length
  const failed = count('failed')
  return {
    ...base,
    suite: r.suite.name,
    description: r.suite.description,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    complete: r.complete,
    scenarios: r.scenarios.length,
    ok: count('ok'),
    failed,
    skipped: count('skipped'),
    status: !r.complete ? 'partial' : failed > 0 ? 'failed' : 'ok',
  }
}
