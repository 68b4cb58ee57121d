import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { errors, describeError, validateHandler, type HandlerDefinition } from '@echoplex/core'
import { BUILTIN_HANDLERS, builtinHandlerPath, type BuiltinHandler } from '@echoplex/handlers'

/** A built-in name (`echo`) or a file path, relative to `cwd`, to the absolute module path. */
export function resolveHandlerPath (nameOrPath: string, cwd = process.cwd()): string {
  if ((BUILTIN_HANDLERS as readonly string[]).includes(nameOrPath)) return builtinHandlerPath(nameOrPath as BuiltinHandler)
  const path = resolve(cwd, nameOrPath)
  if (!existsSync(path)) throw errors.UNKNOWN_HANDLER(nameOrPath, BUILTIN_HANDLERS)
  return path
}

/**
 * Imports a module by path and checks its default export: a failed import is `loadFailed`, an export
 * `validate` objects to is `invalid` (both one line, with the path). Handlers and model files load so.
 */
export async function importDefault<T> (path: string, validate: (value: unknown) => string | undefined, loadFailed: (why: string) => Error, invalid: (why: string) => Error): Promise<T> {
  let mod: { default?: unknown }
  try {
    mod = await import(pathToFileURL(path).href) as { default?: unknown }
  } catch (err) {
    throw loadFailed(describeError(err))
  }
  const reason = validate(mod.default)
  if (reason !== undefined) throw invalid(reason)
  return mod.default as T
}

/** Imports and checks a handler module. Every process and thread that serves calls this itself. */
export async function loadHandler (path: string): Promise<HandlerDefinition> {
  return await importDefault<HandlerDefinition>(path, validateHandler, (why) => errors.HANDLER_LOAD(path, why), (why) => errors.HANDLER_INVALID(path, why))
}
