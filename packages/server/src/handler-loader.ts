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

/** Imports and checks a handler module. Every process and thread that serves calls this itself. */
export async function loadHandler (path: string): Promise<HandlerDefinition> {
  let mod: { default?: unknown }
  try {
    mod = await import(pathToFileURL(path).href) as { default?: unknown }
  } catch (err) {
    throw errors.HANDLER_LOAD(path, describeError(err))
  }
  const reason = validateHandler(mod.default)
  if (reason !== undefined) throw errors.HANDLER_INVALID(path, reason)
  return mod.default as HandlerDefinition
}
