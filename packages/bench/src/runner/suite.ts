/**
 * Suites: JSON data files (benchmarks/suites/*.json) saying what to measure. A suite is validated
 * (ajv, one-line errors), normalized (every default filled in), optionally overridden from the
 * command line, and expanded into scenarios: target (model or peer) × workload × payload size ×
 * connections × mode (keep-alive or churn). Repetitions are applied by the runner.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path'
import { PEERS, getPeer, type PeerName } from '../peers.js'
import { resolveNodeRuntimes, runtimeTag } from '../runtime/node-runtime.js'
import { DEFAULT_FIXED_RATE_FRACTION } from './fixed-rate.js'
import { EchoplexError, entryOptions, errors, type Framing } from '@echoplex/core'
import { checkSchema, SUITES_DIR, type ExpectKind, type Mode, type RuntimeConfig, type ScenarioConfig, type SuiteConfig, type TargetConfig, type WorkloadConfig } from '@echoplex/results'
import { BUILTIN_OPTION_DEFAULTS, type BuiltinHandler } from '@echoplex/handlers'
import { findModel, isModelPath, loadHandler, modelNames, resolveModel, type ModelDescriptor } from '@echoplex/server'
import { loadLoadScript } from '../load/script.js'
import type { EngineChoice } from '../load/native.js'

/** Built-in handlers that can be benchmarked (chat has no request → reply contract to verify). */
export const BENCH_HANDLERS = ['echo', 'upper', 'http', 'work'] as const
export const MODES: readonly Mode[] = ['keep-alive', 'churn']

/** A model entry in a suite file: a name, or an object with sizing. */
/** A model entry in a suite file: a name, or an object with sizing and serve options of its own (`args`). */
export type ModelSpec = string | { model: string, label?: string, workers?: number | 'cores', spares?: number, args?: string[] }

export interface WorkloadSpec {
  name?: string
  handler: string
  /** default: the handler's own (a handler file is loaded to read it) */
  framing?: Framing
  expect?: Exclude<ExpectKind, 'script'>
  /** a load script (path relative to the suite file) that builds requests and checks replies */
  loadScript?: string
  options?: Record<string, string | number>
  peers?: boolean
  payloadBytes?: number[]
  connections?: number[]
  modes?: Mode[]
  durationMs?: number
  warmupMs?: number
  /** before each measurement, warm up in 1 s steps until the rate is steady, for at most this long (0: off) */
  steadyWarmupMs?: number
  pipeline?: number
  /** a fixed-rate scenario too: true (half the slowest model's closed-loop req/s), a share from 0.05 to 1, or false */
  fixedRate?: boolean | number
}

/** The shape of a suite file. */
export interface SuiteSpec {
  $schema?: string
  name: string
  description?: string
  repetitions?: number
  durationMs?: number
  warmupMs?: number
  /** default of every workload's steadyWarmupMs (default 0: off) */
  steadyWarmupMs?: number
  payloadBytes?: number[]
  connections?: number[]
  modes?: Mode[]
  pipeline?: number
  /** default of every workload's fixedRate (default false) */
  fixedRate?: boolean | number
  /** load generator threads (raw TCP: worker threads; autocannon: workers when > 1) */
  loadThreads?: number
  /** raw TCP generator engine: auto (native when it can run), node or native (see load/native.ts) */
  loadEngine?: EngineChoice
  /** default worker count for cluster and pool: a number or "cores" */
  workers?: number | 'cores'
  /** "all" (the default): every registered model; "all" may also stand in the list, beside sized entries */
  models?: ModelSpec[] | 'all'
  /** true = every peer, false = none, or a list of peer names */
  peers?: boolean | string[]
  /** Node runtimes to run models and Node peers under, each target once per runtime: `current`, a version (`24`), a path */
  runtimes?: string[]
  workloads: WorkloadSpec[]
  startTimeoutMs?: number
  stopTimeoutMs?: number
  sampleIntervalMs?: number
  idleSettleMs?: number
}

const sizeList = { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'integer', minimum: 1, maximum: 16 * 1024 * 1024 } }
const connList = { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'integer', minimum: 1, maximum: 100_000 } }
const modeList = { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['keep-alive', 'churn'] } }
const durationMs = { type: 'integer', minimum: 100, maximum: 600_000 }
const fixedRate = { anyOf: [{ type: 'boolean' }, { type: 'number', minimum: 0.05, maximum: 1 }] }
const warmupMs = { type: 'integer', minimum: 0, maximum: 600_000 }
const steadyWarmupMs = { type: 'integer', minimum: 0, maximum: 600_000 }

/** JSON Schema of a suite file. */
export const suiteSchema = {
  $id: 'https://echoplex.dev/schemas/suite.json',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'workloads'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    description: { type: 'string' },
    repetitions: { type: 'integer', minimum: 1, maximum: 100 },
    durationMs,
    warmupMs,
    steadyWarmupMs,
    payloadBytes: sizeList,
    connections: connList,
    modes: modeList,
    pipeline: { type: 'integer', minimum: 1, maximum: 1024 },
    fixedRate,
    loadThreads: { type: 'integer', minimum: 1, maximum: 64 },
    loadEngine: { enum: ['auto', 'node', 'native'] },
    workers: { anyOf: [{ type: 'integer', minimum: 1, maximum: 1024 }, { const: 'cores' }] },
    models: {
      anyOf: [{ const: 'all' }, {
      type: 'array',
      items: {
        anyOf: [
          { type: 'string' },
          {
            type: 'object',
            additionalProperties: false,
            required: ['model'],
            properties: {
              model: { type: 'string' },
              label: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' },
              workers: { anyOf: [{ type: 'integer', minimum: 1, maximum: 1024 }, { const: 'cores' }] },
              spares: { type: 'integer', minimum: 0, maximum: 1024 },
              args: { type: 'array', maxItems: 32, items: { type: 'string', minLength: 1 } },
            },
          },
        ],
      },
      }],
    },
    peers: { anyOf: [{ type: 'boolean' }, { type: 'array', items: { type: 'string' }, uniqueItems: true }] },
    runtimes: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 } },
    workloads: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['handler'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
          handler: { type: 'string', minLength: 1 },
          framing: { enum: ['raw', 'line', 'length', 'http'] },
          expect: { enum: ['echo', 'upper', 'work'] },
          loadScript: { type: 'string', minLength: 1 },
          options: { type: 'object', additionalProperties: { type: ['string', 'number'] } },
          peers: { type: 'boolean' },
          payloadBytes: sizeList,
          connections: connList,
          modes: modeList,
          durationMs,
          warmupMs,
          steadyWarmupMs,
          pipeline: { type: 'integer', minimum: 1, maximum: 1024 },
          fixedRate,
        },
      },
    },
    startTimeoutMs: { type: 'integer', minimum: 1000, maximum: 600_000 },
    stopTimeoutMs: { type: 'integer', minimum: 500, maximum: 600_000 },
    sampleIntervalMs: { type: 'integer', minimum: 20, maximum: 10_000 },
    idleSettleMs: { type: 'integer', minimum: 0, maximum: 60_000 },
  },
} as const

/** A suite error: one line, meant for the user as-is; EPX_BAD_SUITE (a usage error, exit 2; HTTP 400). */
export class SuiteError extends EchoplexError {
  override name = 'SuiteError'
  constructor (message: string, cause?: unknown) {
    super(errors.BAD_SUITE.code, message, entryOptions(errors.BAD_SUITE, cause))
  }
}

/**
 * A bad command-line override: its message names the flag (`--models: …`), not the suite file, since the
 * suite is not what is wrong.
 */
export class FlagError extends SuiteError {
  override name = 'FlagError'
  constructor (readonly flag: string, message: string, cause?: unknown) {
    super(`${flag}: ${message}`, cause)
  }
}

/** Runs `f`; a SuiteError it throws becomes a FlagError naming `flag`. */
function asFlag<T> (flag: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof SuiteError && !(e instanceof FlagError)) throw new FlagError(flag, e.message, e)
    throw e
  }
}

// ---------------------------------------------------------------- normalized form

export interface SuiteOverrides {
  /** replace the suite's models (entries of the suite with the same name keep their sizing) */
  models?: string[]
  /** workload names or handlers: keep those of the suite, add unknown ones as new workloads */
  workloads?: string[]
  peers?: boolean | string[]
  durationMs?: number
  warmupMs?: number
  steadyWarmupMs?: number
  connections?: number[]
  payloadBytes?: number[]
  modes?: Mode[]
  repetitions?: number
  /** workers for cluster and pool */
  workers?: number
  loadThreads?: number
  /** a load script for every workload of the run (absolute, or relative to the working directory) */
  loadScript?: string
  /** Node runtimes (`--node`): replace the suite's `runtimes` */
  runtimes?: string[]
  loadEngine?: EngineChoice
}

const DEFAULTS = {
  repetitions: 1,
  durationMs: 2000,
  warmupMs: 500,
  payloadBytes: [64],
  connections: [16],
  modes: ['keep-alive'] as Mode[],
  pipeline: 1,
  loadThreads: 1,
  loadEngine: 'auto' as EngineChoice,
  startTimeoutMs: 20_000,
  stopTimeoutMs: 5000,
  sampleIntervalMs: 250,
  idleSettleMs: 300,
}

const BUILTIN_FRAMING: Record<string, Framing> = { echo: 'raw', upper: 'raw', http: 'http', work: 'length' }
const BUILTIN_EXPECT: Record<string, ExpectKind> = { echo: 'echo', upper: 'upper', http: 'echo', work: 'work' }

function resolveWorkers (w: number | 'cores' | undefined, fallback: number): number {
  if (w === undefined) return fallback
  return w === 'cores' ? availableParallelism() : w
}

function isBuiltin (handler: string): boolean {
  return (BENCH_HANDLERS as readonly string[]).includes(handler)
}

/** Framings of handler files, read by loading them (loadHandlerFiles), by absolute path. */
const handlerFramings = new Map<string, Framing>()

function looksLikeHandlerPath (handler: string): boolean {
  return handler.includes('/') || handler.includes('\\') || /\.(m?js|cjs|m?ts)$/.test(handler)
}

function normalizeWorkload (w: WorkloadSpec, suite: SuiteSpec, baseDir: string): WorkloadConfig {
  let handler = w.handler
  if (handler === 'chat') throw new SuiteError('handler "chat" cannot be benchmarked (no request → reply contract to verify: what a connection gets depends on the others)')
  if (!isBuiltin(handler)) {
    if (!looksLikeHandlerPath(handler)) throw new SuiteError(`unknown handler "${handler}" (expected one of: ${BENCH_HANDLERS.join(', ')}, or a handler file path)`)
    handler = isAbsolute(handler) ? handler : resolve(baseDir, handler)
    if (w.framing === undefined && !handlerFramings.has(handler)) {
      throw new SuiteError(`workload with handler file ${w.handler} needs "framing" (or load the file first: loadSuiteWithModels)`)
    }
  }
  const framing = w.framing ?? BUILTIN_FRAMING[handler] ?? handlerFramings.get(handler)!
  const loadScript = w.loadScript === undefined ? undefined : (isAbsolute(w.loadScript) ? w.loadScript : resolve(baseDir, w.loadScript))
  if (loadScript !== undefined && framing === 'http') throw new SuiteError(`workload ${w.name ?? w.handler}: http workloads are driven by autocannon; a load script drives raw, line and length handlers`)
  const expect = loadScript !== undefined ? 'script' : (w.expect ?? BUILTIN_EXPECT[handler] ?? 'echo')
  if (framing === 'http' && expect !== 'echo') throw new SuiteError(`workload ${w.name ?? w.handler}: http workloads can only expect "echo"`)
  if (expect === 'work' && framing === 'raw') throw new SuiteError(`workload ${w.name ?? w.handler}: "work" replies need line or length framing`)
  const name = w.name ?? (isBuiltin(handler) ? handler : basename(handler, extname(handler)))
  const options: Record<string, string> = {}
  // a built-in handler's option defaults are written out (work: how many rounds of which digest), so a
  // result says what it measured and `compare` will not set a run against one made under other defaults
  if (isBuiltin(handler)) Object.assign(options, BUILTIN_OPTION_DEFAULTS[handler as BuiltinHandler])
  for (const [k, v] of Object.entries(w.options ?? {})) options[k] = String(v)
  return {
    name,
    handler,
    framing,
    expect,
    ...(loadScript === undefined ? {} : { loadScript }),
    options,
    peers: w.peers ?? expect === 'echo',
    payloadBytes: w.payloadBytes ?? suite.payloadBytes ?? DEFAULTS.payloadBytes,
    connections: w.connections ?? suite.connections ?? DEFAULTS.connections,
    modes: w.modes ?? suite.modes ?? DEFAULTS.modes,
    durationMs: w.durationMs ?? suite.durationMs ?? DEFAULTS.durationMs,
    warmupMs: w.warmupMs ?? suite.warmupMs ?? DEFAULTS.warmupMs,
    steadyWarmupMs: w.steadyWarmupMs ?? suite.steadyWarmupMs ?? 0,
    pipeline: w.pipeline ?? suite.pipeline ?? DEFAULTS.pipeline,
    fixedRate: fixedRateOf(w.fixedRate ?? suite.fixedRate ?? false),
  }
}

function fixedRateOf (v: boolean | number): number | null {
  if (v === false) return null
  return v === true ? DEFAULT_FIXED_RATE_FRACTION : v
}

/** A model entry's descriptor: registered by name, or loaded before (see loadModelFiles) by path. */
function modelOf (ref: string, baseDir: string): ModelDescriptor {
  const found = findModel(ref, baseDir)
  if (found !== undefined) return found
  if (isModelPath(ref)) throw new SuiteError(`model ${ref} was not loaded (loadModelFiles first)`)
  throw new SuiteError(`unknown model "${ref}" (expected one of: ${modelNames().join(', ')}, or a model file)`)
}

function normalizeModels (specs: ModelSpec[] | 'all', defaultWorkers: number, baseDir: string): TargetConfig[] {
  const out: TargetConfig[] = []
  for (const s of (specs === 'all' ? ['all'] : specs).flatMap((x) => x === 'all' ? modelNames() : [x])) {
    const o = typeof s === 'string' ? { model: s } : s
    const model = modelOf(o.model, baseDir)
    // a model file is served by its absolute path, whatever the server's working directory
    const name = isModelPath(o.model) ? resolve(baseDir, o.model) : o.model
    const label = o.label ?? model.name
    if (out.some((t) => t.label === label)) throw new SuiteError(`model "${label}" appears twice (give one a "label")`)
    out.push({
      kind: 'model',
      name,
      label,
      workers: model.bench.workers ? resolveWorkers(o.workers, defaultWorkers) : null,
      spares: model.bench.spares ? (o.spares ?? 0) : null,
      ...(o.args === undefined || o.args.length === 0 ? {} : { args: o.args }),
    })
  }
  return out
}

/** The model files a suite (and its overrides) names, loaded so that the suite can be normalized. */
export async function loadModelFiles (data: unknown, source: string | null, overrides: SuiteOverrides = {}): Promise<void> {
  const baseDir = source === null ? process.cwd() : dirname(source)
  const listed = (data as { models?: unknown })?.models
  const refs = Array.isArray(listed) ? listed.map((m) => typeof m === 'string' ? m : (m as { model?: unknown })?.model) : []
  const files = [
    ...refs.filter((r): r is string => typeof r === 'string' && isModelPath(r)).map((r) => resolve(baseDir, r)),
  ]
  try {
    for (const file of files) await resolveModel(file)
  } catch (e) {
    throw new SuiteError((e as Error).message)
  }
  for (const file of (overrides.models ?? []).filter(isModelPath).map((r) => resolve(r))) {
    try {
      await resolveModel(file)
    } catch (e) {
      throw new FlagError('--models', (e as Error).message)
    }
  }
}

async function loadHandlerFramings (files: string[], flag: string | null): Promise<void> {
  for (const file of files) {
    if (handlerFramings.has(file)) continue
    if (!existsSync(file)) {
      const msg = `handler file not found: ${file}`
      throw flag === null ? new SuiteError(msg) : new FlagError(flag, msg)
    }
    try {
      handlerFramings.set(file, (await loadHandler(file)).framing)
    } catch (e) {
      throw flag === null ? new SuiteError((e as Error).message) : new FlagError(flag, (e as Error).message)
    }
  }
}

/** Loads the handler files a suite (and its overrides) names, to read their framing (a workload's default). */
export async function loadHandlerFiles (data: unknown, source: string | null, overrides: SuiteOverrides = {}): Promise<void> {
  const baseDir = source === null ? process.cwd() : dirname(source)
  const listed = (data as { workloads?: unknown })?.workloads
  const inSuite = Array.isArray(listed)
    ? listed.filter((w) => typeof w?.handler === 'string' && w.framing === undefined && !isBuiltin(w.handler) && looksLikeHandlerPath(w.handler))
      .map((w) => resolve(baseDir, w.handler as string))
    : []
  await loadHandlerFramings(inSuite, null)
  const names = new Set((Array.isArray(listed) ? listed : []).flatMap((w) => [w?.name, w?.handler]))
  const fromFlags = (overrides.workloads ?? []).filter((w) => !names.has(w) && !isBuiltin(w) && looksLikeHandlerPath(w)).map((w) => resolve(w))
  await loadHandlerFramings(fromFlags, '--workloads')
}

function normalizePeers (p: boolean | string[] | undefined): string[] {
  if (p === undefined || p === true) return PEERS.map((b) => b.name)
  if (p === false) return []
  for (const name of p) {
    if (!PEERS.some((b) => b.name === name)) {
      throw new SuiteError(`unknown peer "${name}" (expected one of: ${PEERS.map((b) => b.name).join(', ')})`)
    }
  }
  return [...p]
}

/** Validates a parsed suite file and fills in every default. `source` is its path (relative handler paths resolve against its folder). */
export function normalizeSuite (data: unknown, source: string | null = null, overrides: SuiteOverrides = {}): SuiteConfig {
  const where = source === null ? 'suite' : `suite ${source}`
  const err = checkSchema(suiteSchema, data)
  if (err !== null) throw new SuiteError(`${where}: ${err}`)
  const spec = data as SuiteSpec
  const baseDir = source === null ? process.cwd() : dirname(source)
  try {
    const defaultWorkers = overrides.workers ?? resolveWorkers(spec.workers, availableParallelism())
    let models = normalizeModels(spec.models ?? 'all', defaultWorkers, baseDir)
    const flagModels = (names: string[]): TargetConfig[] => asFlag('--models', () => normalizeModels(names, defaultWorkers, process.cwd()))
    if (overrides.workers !== undefined) {
      models = models.map((m) => m.workers === null ? m : { ...m, workers: overrides.workers! })
    }
    if (overrides.models !== undefined) {
      const picked: TargetConfig[] = []
      for (const name of overrides.models) {
        const found = models.filter((m) => m.label === name || m.name === name)
        if (found.length > 0) picked.push(...found.filter((f) => !picked.includes(f)))
        else picked.push(...flagModels([name]))
      }
      models = picked
    }
    let workloads = spec.workloads.map((w) => normalizeWorkload(w, spec, baseDir))
    if (overrides.workloads !== undefined) {
      const picked: WorkloadConfig[] = []
      for (const name of overrides.workloads) {
        const found = workloads.filter((w) => w.name === name || w.handler === name)
        if (found.length > 0) picked.push(...found.filter((f) => !picked.includes(f)))
        else picked.push(asFlag('--workloads', () => normalizeWorkload({ handler: name }, spec, process.cwd())))
      }
      workloads = picked
    }
    if (overrides.loadScript !== undefined) {
      const loadScript = resolve(overrides.loadScript)
      workloads = workloads.map((w) => {
        if (w.framing === 'http') {
          throw new FlagError('--load-script', `workload ${w.name} is HTTP (driven by autocannon); a load script drives raw, line and length handlers (pick workloads with -w)`)
        }
        return { ...w, expect: 'script' as const, loadScript, peers: false }
      })
    }
    workloads = workloads.map((w) => ({
      ...w,
      ...(overrides.durationMs !== undefined ? { durationMs: overrides.durationMs } : {}),
      ...(overrides.warmupMs !== undefined ? { warmupMs: overrides.warmupMs } : {}),
      ...(overrides.steadyWarmupMs !== undefined ? { steadyWarmupMs: overrides.steadyWarmupMs } : {}),
      ...(overrides.connections !== undefined ? { connections: overrides.connections } : {}),
      ...(overrides.payloadBytes !== undefined ? { payloadBytes: overrides.payloadBytes } : {}),
      ...(overrides.modes !== undefined ? { modes: overrides.modes } : {}),
    }))
    const names = new Set<string>()
    for (const w of workloads) {
      if (names.has(w.name)) throw new SuiteError(`workload "${w.name}" appears twice (give one a "name")`)
      names.add(w.name)
    }
    return {
      name: spec.name,
      description: spec.description ?? '',
      source,
      repetitions: overrides.repetitions ?? spec.repetitions ?? DEFAULTS.repetitions,
      loadThreads: overrides.loadThreads ?? spec.loadThreads ?? DEFAULTS.loadThreads,
      loadEngine: overrides.loadEngine ?? spec.loadEngine ?? DEFAULTS.loadEngine,
      models,
      peers: overrides.peers === undefined ? normalizePeers(spec.peers) : asFlag('--peers', () => normalizePeers(overrides.peers)),
      workloads,
      startTimeoutMs: spec.startTimeoutMs ?? DEFAULTS.startTimeoutMs,
      stopTimeoutMs: spec.stopTimeoutMs ?? DEFAULTS.stopTimeoutMs,
      sampleIntervalMs: spec.sampleIntervalMs ?? DEFAULTS.sampleIntervalMs,
      idleSettleMs: spec.idleSettleMs ?? DEFAULTS.idleSettleMs,
    }
  } catch (e) {
    if (e instanceof SuiteError && !(e instanceof FlagError)) throw new SuiteError(`${where}: ${e.message}`)
    throw e
  }
}

/** Names of the suites in benchmarks/suites/. */
export function listSuites (dir = SUITES_DIR): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()
}

/** Each suite of `dir` with its description (or why it cannot be read). */
export function describeSuites (dir = SUITES_DIR): Array<{ name: string, description: string }> {
  return listSuites(dir).map((name) => {
    try {
      const d = (JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { description?: unknown }).description
      return { name, description: typeof d === 'string' ? d : '' }
    } catch (e) {
      return { name, description: `(unreadable: ${(e as Error).message.split('\n')[0]})` }
    }
  })
}

/** `bench --list`: a name per line and its description beside it, wrapped to `width`. */
export function formatSuiteList (suites: Array<{ name: string, description: string }>, width?: number): string {
  const nameW = Math.max(0, ...suites.map((s) => s.name.length))
  const room = width === undefined ? Infinity : Math.max(20, width - nameW - 2)
  const out: string[] = []
  for (const s of suites) {
    const lines: string[] = []
    let line = ''
    for (const word of s.description.split(/\s+/).filter((w) => w !== '')) {
      if (line !== '' && line.length + 1 + word.length > room) { lines.push(line); line = word } else line = line === '' ? word : `${line} ${word}`
    }
    if (line !== '' || lines.length === 0) lines.push(line)
    lines.forEach((l, i) => out.push(`${(i === 0 ? s.name : '').padEnd(nameW)}  ${l}`.trimEnd()))
  }
  return `${out.join('\n')}\n`
}

/** The file a suite name or path refers to; throws a SuiteError when there is none. */
export function resolveSuitePath (nameOrPath: string, dir = SUITES_DIR): string {
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.includes('\\') || nameOrPath.endsWith('.json')
  if (looksLikePath) {
    const p = resolve(nameOrPath)
    if (!existsSync(p) || !statSync(p).isFile()) throw new SuiteError(`suite file not found: ${nameOrPath}`)
    return p
  }
  const p = join(dir, `${nameOrPath}.json`)
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(nameOrPath) || !existsSync(p)) {
    throw new SuiteError(`unknown suite "${nameOrPath}" (expected one of: ${listSuites(dir).join(', ')}, or a suite file path)`)
  }
  return p
}

/** Reads, validates and normalizes a suite by name (benchmarks/suites/NAME.json) or path. */
function readSuiteFile (path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new SuiteError(`suite ${path}: not valid JSON: ${(e as Error).message.split('\n')[0]}`, e)
  }
}

/** A suite by name or path, normalized (model files it names must be loaded: see loadSuiteWithModels). */
export function loadSuite (nameOrPath: string, overrides: SuiteOverrides = {}): SuiteConfig {
  const path = resolveSuitePath(nameOrPath)
  return normalizeSuite(readSuiteFile(path), path, overrides)
}

/** loadSuite, after loading the model files (`--model PATH`) the suite or its overrides name. */
export async function loadSuiteWithModels (nameOrPath: string, overrides: SuiteOverrides = {}): Promise<SuiteConfig> {
  const path = resolveSuitePath(nameOrPath)
  const data = readSuiteFile(path)
  await loadModelFiles(data, path, overrides)
  await loadHandlerFiles(data, path, overrides)
  const suite = normalizeSuite(data, path, overrides)
  // a load script is checked here, once, before any server starts (each load thread loads it again)
  for (const w of suite.workloads) {
    if (w.loadScript === undefined) continue
    if (!existsSync(w.loadScript)) {
      const msg = `load script not found: ${w.loadScript}`
      throw overrides.loadScript !== undefined ? new FlagError('--load-script', msg) : new SuiteError(`suite ${path}: ${msg}`)
    }
    await loadLoadScript(w.loadScript, w.framing as 'raw' | 'line' | 'length')
  }
  const specs = overrides.runtimes ?? (data as { runtimes?: string[] }).runtimes
  if (specs !== undefined) suite.runtimes = await resolveNodeRuntimes(specs)
  return suite
}

// ---------------------------------------------------------------- scenarios

function peerTargets (suite: SuiteConfig, w: WorkloadConfig): TargetConfig[] {
  if (!w.peers || w.expect !== 'echo') return []
  const want = w.framing === 'http' ? 'http' : 'raw'
  return PEERS
    .filter((b) => suite.peers.includes(b.name) && b.framing === want)
    .map((b) => ({ kind: 'peer' as const, name: b.name as PeerName, label: b.name, workers: null, spares: null }))
}

/** A peer that is a Node program (it runs under the chosen runtimes like the models). */
function isNodePeer (name: string): boolean {
  return getPeer(name)?.command(0).command === process.execPath
}

/**
 * Targets under the suite's runtimes: models and Node peers once per runtime (labelled `@node24`… when
 * there are several, so one scenario group shows them side by side); other peers once, as they are.
 */
export function withRuntimes (targets: readonly TargetConfig[], runtimes: readonly RuntimeConfig[] | undefined): TargetConfig[] {
  if (runtimes === undefined || runtimes.length === 0) return [...targets]
  return targets.flatMap((t) => {
    if (t.kind === 'peer' && !isNodePeer(t.name)) return [t]
    return runtimes.map((runtime) => ({ ...t, label: runtimes.length > 1 ? `${t.label}@${runtimeTag(runtime, runtimes)}` : t.label, runtime }))
  })
}

/**
 * Every scenario of a suite, in run order (workload, payload, connections, mode, then targets: models,
 * external targets, peers), then each workload's fixed-rate scenarios (raw TCP workloads with
 * `fixedRate`: first payload size and connection count, keep-alive; see fixed-rate.ts).
 */
export function expandSuite (suite: SuiteConfig): ScenarioConfig[] {
  const out: ScenarioConfig[] = []
  const fixed: ScenarioConfig[] = []
  for (const w of suite.workloads) {
    // external targets run under whatever their owner started them with: never per runtime
    const [models, peers] = [withRuntimes(suite.models, suite.runtimes), withRuntimes(peerTargets(suite, w), suite.runtimes)]
    const targets = [...models, ...(suite.external ?? []), ...peers]
    if (w.fixedRate != null && w.framing !== 'http' && w.modes.includes('keep-alive')) {
      const payloadBytes = w.payloadBytes[0]!
      const connections = w.connections[0]!
      const of = `${w.name}:${payloadBytes}B:c${connections}:keep-alive`
      for (const target of targets) {
        fixed.push({
          id: `${w.name}:${target.label}:${payloadBytes}B:c${connections}:keep-alive@fixed-rate`,
          group: `${of}@fixed-rate`,
          workload: w,
          target,
          payloadBytes,
          connections,
          mode: 'keep-alive',
          pipeline: w.pipeline,
          durationMs: w.durationMs,
          warmupMs: w.warmupMs,
          loadTool: 'tcp',
          fixedRate: { of, fraction: w.fixedRate },
        })
      }
    }
    for (const payloadBytes of w.payloadBytes) {
      for (const connections of w.connections) {
        for (const mode of w.modes) {
          const group = `${w.name}:${payloadBytes}B:c${connections}:${mode}`
          for (const target of targets) {
            out.push({
              id: `${w.name}:${target.label}:${payloadBytes}B:c${connections}:${mode}`,
              group,
              workload: w,
              target,
              payloadBytes,
              connections,
              mode,
              pipeline: mode === 'churn' ? 1 : w.pipeline,
              durationMs: w.durationMs,
              warmupMs: w.warmupMs,
              loadTool: w.framing === 'http' ? 'autocannon' : 'tcp',
            })
          }
        }
      }
    }
  }
  return [...out, ...fixed]
}
