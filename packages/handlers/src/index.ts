import { fileURLToPath } from 'node:url'

/** Built-in handlers by name; each is a module file, loaded by path in whichever process serves it. */
export const BUILTIN_HANDLERS = ['echo', 'upper', 'http', 'chat', 'work'] as const
export type BuiltinHandler = typeof BUILTIN_HANDLERS[number]

export function builtinHandlerPath (name: BuiltinHandler): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url))
}

export { workDigest, DEFAULT_WORK_ROUNDS, DEFAULT_WORK_DIGEST, WORK_DIGESTS, type WorkDigestKind } from './work.js'
export { incompleteUtf8Tail } from './upper.js'
