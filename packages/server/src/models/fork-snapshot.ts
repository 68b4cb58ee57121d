/**
 * A fork child started from a V8 startup snapshot (`node --snapshot-blob`, Node's user-land snapshot):
 * the bundled child entry, fork-child.cjs, is run once by `node --build-snapshot`, which loads its
 * modules — the runtime, the built-in handlers, and the Node modules they use (net, streams, the IPC
 * serializer…) — and saves the heap. A child started from the blob deserializes that heap instead of
 * reading, compiling and running all of it again: strict fork pays a boot per connection.
 *
 * A blob is only good for the Node binary that built it, the bundle it was built from, and the V8
 * options it was built with (a child started with another `--max-old-space-size` refuses it): it is
 * built on first use with the options the children get (the primary's, and NODE_OPTIONS), named after
 * all three, kept next to the compiled addons (nativeBinDir), and checked by starting it once with
 * those options before it is used. Where it cannot be built (no bundle, a Node without
 * snapshots, a build that fails) children boot from the bundle as before, and the stats say why.
 */
import { createHash } from 'node:crypto'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startupSnapshot } from 'node:v8'
import { nativeBinDir } from '@echoplex/core'
import { SNAPSHOT_PROBE_ANSWER, SNAPSHOT_PROBE_ENV } from '../ipc/protocol.js'

/**
 * `--child-boot`: a fork of the zygote (strict fork only), snapshot, bundle, or auto (the default: the
 * zygote for strict fork where it can be, else the snapshot where it builds, else the bundle).
 */
export type ChildBoot = 'zygote' | 'snapshot' | 'bundle' | 'auto'
export const CHILD_BOOT_CHOICES: readonly ChildBoot[] = ['zygote', 'snapshot', 'bundle', 'auto']

export type SnapshotBuild = { ok: true, path: string, upToDate: boolean } | { ok: false, reason: string }

/** A build (or its check) taking longer than this has failed. */
const BUILD_TIMEOUT_MS = 60_000

const BLOB_PREFIX = 'fork-child-'
/** How old a blob of another build of the bundle must be before it is removed. */
const STALE_MS = 24 * 3600_000

const building = new Map<string, Promise<SnapshotBuild>>()

/**
 * Options a child gets that only make it write profiles: left out of the build and the check (they
 * change nothing in V8's heap, and a build would write a profile of its own). `--x=v` or `--x v`.
 */
const PROFILING = /^--(cpu|heap)-prof(-[a-z]+)?(=|$)/
const PROFILING_SWITCHES = new Set(['--cpu-prof', '--heap-prof'])

/** Whether children would write CPU or heap profiles: options of the primary's, or NODE_OPTIONS. */
export function writesProfiles (execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => PROFILING.test(arg))
}

/** The options that shape a snapshot: `execArgv` without the profiling ones. */
export function snapshotOptions (execArgv: readonly string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!
    if (!PROFILING.test(arg)) { kept.push(arg); continue }
    // a profiling option that takes a value as the next argument: skip that too
    if (!arg.includes('=') && !PROFILING_SWITCHES.has(arg) && execArgv[i + 1] !== undefined && !execArgv[i + 1]!.startsWith('-')) i++
  }
  return kept
}

/** How children start: the Node options before their entry, and the environment they get (its NODE_OPTIONS counts). */
export interface ChildNode { execArgv: readonly string[], env: NodeJS.ProcessEnv }

/**
 * The blob for `entry` (the bundled child), this Node and the options children start with (by
 * default this process's own, which they inherit): kept, or built now. Never rejects.
 */
export async function buildChildSnapshot (entry: string, child: ChildNode = { execArgv: process.execArgv, env: process.env }): Promise<SnapshotBuild> {
  if (typeof startupSnapshot?.isBuildingSnapshot !== 'function') return { ok: false, reason: `Node ${process.version} has no startup snapshots` }
  if (!entry.endsWith('.cjs')) return { ok: false, reason: 'the bundled child is not built (run the build)' }
  const options = snapshotOptions(child.execArgv)
  let node: string
  let bundle: string
  try {
    node = hash(`${process.version}\0${process.arch}\0${realpathSync(process.execPath)}\0${options.join('\0')}\0${child.env.NODE_OPTIONS ?? ''}`)
    // its place too: the bundle finds files next to itself through paths fixed when the blob was built
    bundle = hash(Buffer.concat([Buffer.from(`${realpathSync(entry)}\0`), readFileSync(entry)]))
  } catch (err) {
    return { ok: false, reason: `cannot read ${entry}: ${(err as Error).message}` }
  }
  const dir = nativeBinDir(fileURLToPath(new URL('../../native/bin/', import.meta.url)))
  const path = join(dir, `${BLOB_PREFIX}${process.version}-${node}-${bundle}.blob`)
  if (existsSync(path)) return { ok: true, path, upToDate: true }
  // one build at a time per blob in this process (another process builds under its own temp name)
  let build = building.get(path)
  if (build === undefined) {
    build = buildAndCheck(entry, path, options, child.env)
    building.set(path, build)
    void build.then(() => building.delete(path))
  }
  return await build
}

/** Builds the blob under a private name, starts it once, and only then gives it its name. */
async function buildAndCheck (entry: string, path: string, options: readonly string[], env: NodeJS.ProcessEnv): Promise<SnapshotBuild> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
  try {
    mkdirSync(dirname(path), { recursive: true })
    // with the children's options and environment (NODE_OPTIONS included): V8 checks that they match
    const built = await run([...options, '--snapshot-blob', tmp, '--build-snapshot', entry], env)
    if (built.error !== undefined) return { ok: false, reason: `the snapshot build failed: ${built.error}` }
    const probe = await run([...options, '--snapshot-blob', tmp], { ...env, [SNAPSHOT_PROBE_ENV]: '1' })
    if (probe.error !== undefined || probe.stdout !== SNAPSHOT_PROBE_ANSWER) return { ok: false, reason: `the snapshot does not start: ${probe.error ?? 'no answer'}` }
    renameSync(tmp, path)
    removeStale(path)
    return { ok: true, path, upToDate: false }
  } catch (err) {
    return { ok: false, reason: (err as Error).message }
  } finally {
    rmSync(tmp, { force: true })
  }
}

const hash = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex').slice(0, 12)

/**
 * Blobs of earlier builds of the bundle for this Node (each rebuild makes a new one, ~5 MB), once a
 * day old: a server started before the rebuild may still be starting children from its own.
 */
function removeStale (current: string): void {
  const dir = dirname(current)
  const sameNode = basename(current).replace(/[^-]+\.blob$/, '')
  for (const name of readdirSync(dir)) {
    const file = join(dir, name)
    if (!name.startsWith(sameNode) || !name.endsWith('.blob') || file === current) continue
    try {
      if (Date.now() - statSync(file).mtimeMs > STALE_MS) rmSync(file, { force: true })
    } catch {}
  }
}

async function run (args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string, error?: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, args, { env, timeout: BUILD_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      // the error's own line (`Error: …`, or V8's refusal of a blob), not Node's warnings about modules
      // it has not verified in snapshots
      const why = String(stderr).split('\n').find((l) => /^\[?[A-Za-z]*Error\b|^Failed to load the startup snapshot/.test(l))
      resolve(err === null ? { stdout } : { stdout, error: why ?? err.message.split('\n')[0] })
    })
  })
}
