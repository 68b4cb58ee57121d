import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { errors, validateHandler, type HandlerDefinition } from '@echoplex/core'
import { BUILTIN_HANDLERS, builtinHandlerPath, type BuiltinHandler } from '@echoplex/handlers'
import { ensureOwnPackages, resolvesHere } from './handler-loading/own-packages.js'
import { ensureTypeScript, isTypeScript } from './handler-loading/typescript.js'
import { describeLoadError } from './handler-loading/load-error.js'
import { importModule } from './handler-loading/import-module.js'

/** A built-in name (`echo`) or a file path, relative to `cwd`, to the absolute module path. */
export function resolveHandlerPath (nameOrPath: string, cwd = process.cwd()): string {
  if ((BUILTIN_HANDLERS as readonly string[]).includes(nameOrPath)) return builtinHandlerPath(nameOrPath as BuiltinHandler)
  const path = resolve(cwd, nameOrPath)
  if (!existsSync(path)) throw errors.UNKNOWN_HANDLER(nameOrPath, BUILTIN_HANDLERS)
  return path
}

/**
 * Imports a module by path and checks its default export: a failed import is `loadFailed` (with the
 * file and line of a syntax error), an export `validate` objects to is `invalid` (both one line).
 * Handlers and model files load so; every process and thread that serves calls it itself, so the
 * module hooks a file needs (its `@echoplex/*` imports, TypeScript) are set up in each of them:
 * hooks are per thread and not inherited.
 */
export async function importDefault<T> (path: string, validate: (value: unknown) => string | undefined, loadFailed: (why: string) => Error, invalid: (why: string) => Error): Promise<T> {
  let mod: { default?: unknown }
  try {
    ensureOwnPackages(path)
    if (isTypeScript(path)) await ensureTypeScript()
    mod = await importModule<{ default?: unknown }>(pathToFileURL(path).href)
  } catch (err) {
    throw loadFailed(describeLoadError(err, path))
  }
  const reason = validate(mod.default)
  if (reason !== undefined) throw invalid(reason)
  return mod.default as T
}

/**
 * Whether loading the module at `path` registers module hooks: TypeScript, or a file outside this
 * install that imports `@echoplex/*`. (A fork child started from a startup snapshot cannot register them.)
 */
export function needsModuleHooks (path: string): boolean {
  return isTypeScript(path) || !resolvesHere(path)
}

/** Imports and checks a handler module. Every process and thread that serves calls this itself. */
export async function loadHandler (path: string): Promise<HandlerDefinition> {
  return await importDefault<HandlerDefinition>(path, validateHandler, (why) => errors.HANDLER_LOAD(path, why), (why) => errors.HANDLER_INVALID(path, why))
}
