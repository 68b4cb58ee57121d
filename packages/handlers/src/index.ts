import { fileURLToPath } from 'node:url'
import { WORK_OPTION_DEFAULTS } from './work.js'

/** Built-in handlers by name; each is a module file, loaded by path in whichever process serves it. */
export const BUILTIN_HANDLERS = ['echo', 'upper', 'http', 'chat', 'work'] as const
export type BuiltinHandler = typeof BUILTIN_HANDLERS[number]

export function builtinHandlerPath (name: BuiltinHandler): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url))
}

/** What a built-in handler's options are when not given: results record them, so a run says what it measured. */
export const BUILTIN_OPTION_DEFAULTS: Partial<Record<BuiltinHandler, Readonly<Record<string, string>>>> = { work: WORK_OPTION_DEFAULTS }

export { workDigest, DEFAULT_WORK_ROUNDS } from './work.js'
export { incompleteUtf8Tail } from './upper.js'
