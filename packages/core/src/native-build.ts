import { execFile, execFileSync } from 'node:child_process'
import { accessSync, constants, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'

/**
 * Building the project's small C programs on demand with the system compiler (the C epoll peer, the
 * native load engine, the fork children's kernel-accept addon): found once, compiled to a private
 * name and renamed, so concurrent builds never run a half-written file, and rebuilt only when the
 * source is newer.
 */

/** The file on PATH (or the path itself) when it is an executable file. */
export function executableOnPath (name: string): string | null {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, name))
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK)
      if (statSync(p).isFile()) return p
    } catch { /* next */ }
  }
  return null
}

const runnable = new Map<string, string | null>()

/**
 * The first of the candidates that is on PATH (or a path) and answers `--version`, remembered per
 * list; null when none does (a version-manager shim may exist and not run).
 */
export function firstRunnable (candidates: readonly string[]): string | null {
  const key = candidates.join('\0')
  if (runnable.has(key)) return runnable.get(key) ?? null
  let found: string | null = null
  for (const c of candidates) {
    const p = executableOnPath(c)
    if (p === null) continue
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore', timeout: 5000 })
      found = p
      break
    } catch { /* does not run */ }
  }
  runnable.set(key, found)
  return found
}

/**
 * The C compiler: $CC when set (and only it: a CC that does not run means no compiler, as with
 * make), else the first of cc, gcc, clang on PATH that answers --version. Null when there is none.
 */
export function findCCompiler (): string | null {
  const cc = process.env.CC
  return firstRunnable(cc !== undefined && cc !== '' ? [cc] : ['cc', 'gcc', 'clang'])
}

/** Why there is no compiler, in the words every caller reports. */
export function noCompilerReason (): string {
  const cc = process.env.CC
  return cc !== undefined && cc !== '' ? `no C compiler (CC=${cc} does not run)` : 'no C compiler found (cc, gcc, clang; or set CC)'
}

/** True when `output` exists and is no older than `source`. */
export function builtFrom (output: string, source: string): boolean {
  try {
    return statSync(output).mtimeMs >= statSync(source).mtimeMs
  } catch {
    return false
  }
}

export type CompileResult =
  | { ok: true, path: string, upToDate: boolean }
  /** noCompiler: nothing could be tried here (as opposed to a compile error) */
  | { ok: false, noCompiler: boolean, reason: string }

/**
 * Compiles `source` into `output` with `cc <flags> -o output source <libs>` unless `output` is already
 * built from it (or `force`). Never rejects: a missing compiler or a compile error is the result.
 */
export async function compileC (o: { source: string, output: string, flags?: readonly string[], libs?: readonly string[], force?: boolean }): Promise<CompileResult> {
  if (o.force !== true && builtFrom(o.output, o.source)) return { ok: true, path: o.output, upToDate: true }
  const cc = findCCompiler()
  if (cc === null) return { ok: false, noCompiler: true, reason: noCompilerReason() }
  try {
    mkdirSync(dirname(o.output), { recursive: true })
  } catch (err) {
    return { ok: false, noCompiler: false, reason: `cannot create ${dirname(o.output)}: ${(err as Error).message}` }
  }
  const tmp = `${o.output}.${process.pid}.${Date.now()}.tmp`
  return await new Promise((resolve) => {
    execFile(cc, [...(o.flags ?? ['-O2', '-Wall']), '-o', tmp, o.source, ...(o.libs ?? [])], { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (err !== null) {
        rmSync(tmp, { force: true })
        const first = String(stderr).trim().split('\n').find((l) => /error/i.test(l)) ?? err.message
        resolve({ ok: false, noCompiler: false, reason: `compile failed: ${first}` })
        return
      }
      try {
        renameSync(tmp, o.output)
        resolve({ ok: true, path: o.output, upToDate: false })
      } catch (e) {
        rmSync(tmp, { force: true })
        resolve({ ok: false, noCompiler: false, reason: `compile failed: ${(e as Error).message}` })
      }
    })
  })
}

/** Where compiled programs are kept: $ECHOPLEX_NATIVE_BIN_DIR, else the package's own (gitignored) `fallback`. */
export function nativeBinDir (fallback: string): string {
  const dir = process.env.ECHOPLEX_NATIVE_BIN_DIR
  return dir !== undefined && dir !== '' ? dir : fallback
}
