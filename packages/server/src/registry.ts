import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { errors } from '@echoplex/core'
import { importDefault } from './handler-loader.js'
import type { ModelDescriptor } from './model.js'
import eventLoop from './models/event-loop.js'
import cluster from './models/cluster.js'
import fork from './models/fork.js'
import forkReuse from './models/fork-reuse.js'
import pool from './models/pool.js'

/** The built-in models, in the order reports and `--help` list them. The only list of model names. */
export const BUILTIN_MODELS: readonly ModelDescriptor[] = [eventLoop, cluster, fork, forkReuse, pool]

/** Models loaded by path (`--model ./my-model.js`), keyed by the text that named them and by absolute path. */
const loaded = new Map<string, ModelDescriptor>()

/** Names of every registered model: the built-ins (the default suites' "all"). */
export function modelNames (): string[] {
  return BUILTIN_MODELS.map((m) => m.name)
}

/** Every role a registered model's processes can show in `ps`. */
export function modelRoles (): string[] {
  return [...new Set([...BUILTIN_MODELS, ...loaded.values()].flatMap((m) => m.roles))]
}

/** True when `ref` names a file rather than a registered model (it has a slash or a file extension). */
export function isModelPath (ref: string): boolean {
  return /[/\\]/.test(ref) || /\.(m?js|cjs|ts|mts)$/.test(ref)
}

/** A model already known by name or by a path loaded before; undefined otherwise. */
export function findModel (ref: string, cwd = process.cwd()): ModelDescriptor | undefined {
  return BUILTIN_MODELS.find((m) => m.name === ref) ?? loaded.get(ref) ?? (isModelPath(ref) ? loaded.get(resolve(cwd, ref)) : undefined)
}

/** The descriptor for a name, or for a module path whose default export is one (loaded once). */
export async function resolveModel (ref: string, cwd = process.cwd()): Promise<ModelDescriptor> {
  const known = findModel(ref, cwd)
  if (known !== undefined) return known
  if (!isModelPath(ref)) throw errors.UNKNOWN_MODEL(ref, modelNames())
  const path = resolve(cwd, ref)
  if (!existsSync(path)) throw errors.MODEL_LOAD(ref, 'no such file')
  const descriptor = await importDefault<ModelDescriptor>(path, invalidDescriptor, (why) => errors.MODEL_LOAD(ref, why), (why) => errors.MODEL_INVALID(ref, why))
  loaded.set(ref, descriptor)
  loaded.set(path, descriptor)
  return descriptor
}

/** Why a value is not a usable ModelDescriptor, or undefined when it is. */
export function invalidDescriptor (d: unknown): string | undefined {
  if (typeof d !== 'object' || d === null) return 'the default export is not an object (export default defineModel({...}))'
  const m = d as Partial<ModelDescriptor>
  if (typeof m.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(m.name)) return '"name" must be a lower-case word (letters, digits, -)'
  if (BUILTIN_MODELS.some((b) => b.name === m.name && b !== d)) return `"name" ${m.name} is a built-in model's`
  if (typeof m.create !== 'function') return '"create" must be a function (options) => Promise<ConcurrencyModel>'
  if (!Array.isArray(m.options)) return '"options" must be an array'
  if (!Array.isArray(m.roles) || m.roles.length === 0) return '"roles" must list at least the root process role'
  if (typeof m.bench !== 'object' || m.bench === null) return '"bench" is missing'
  if (typeof m.suites !== 'object' || m.suites === null) return '"suites" is missing'
  return undefined
}
