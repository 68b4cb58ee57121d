import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { errors, validateHandler, type HandlerDefinition } from '@echoplex/core'
import { BUILTIN_HANDLERS, builtinHandlerPath, type BuiltinHandler } from '@echoplex/handlers'
import { ensureOwnPackages } from './handler-loading/own-packages.js'
import { ensureTypeScript, isTypeScript } from './handler-loading/typescript.js'
import { describeLoadError } from './handler-loading/load-error.js'

/** A built-in name (`echo`) or a file path, relative to `cwd`, to the absolute module path. */
export function resolveHandlerPath (nameOrPath: string, cwd = process.cwd()): string {
  if ((BUILTIN_HANDLERS as readonly string[]).includes(nameOrPath)) return builtinHandlerPath(nameOrPath as BuiltinHandler)
  const path = resolve(cwd, nameOrPath)
  if (!existsSync(path)) throw errors.UNKNOWN_HANDLER(nameOrPath, BUILTIN_HANDLERS)
  return path
}

/**
 * Imports and checks a handler module. Every process and thread that serves calls this itself, so
 * the module hooks a handler needs (its `@echoplex/*` imports, TypeScript) are set up in each of them:
 * hooks are per thread and not inherited.
 */
export async function loadHandler (path: string): Promise<HandlerDefinition> {
  let mod: { default?: unknown }
  try {
    ensureOwnPackages(path)
    if (isTypeScript(path)) await ensureTypeScript()
    mod = await import(pathToFileURL(path).href) as { default?: unknown }
  } catch (err) {
    throw errors.HANDLER_LOAD(path, describeLoadError(err, path))
  }
  const reason = validateHandler(mod.default)
  if (reason !== undefined) throw errors.HANDLER_INVALID(path, reason)
  return mod.default as HandlerDefinition
}
