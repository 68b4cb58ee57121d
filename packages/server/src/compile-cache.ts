import * as module from 'node:module'

/**
 * Turns on Node's on-disk compile cache (`module.enableCompileCache`, Node ≥ 22.1) for the modules
 * this process loads from now on; a no-op on a Node without it. Children boot often: the cache saves
 * them compiling the same code again.
 */
export function enableCompileCache (): boolean {
  const enable = (module as { enableCompileCache?: () => unknown }).enableCompileCache
  if (typeof enable !== 'function') return false
  try {
    enable()
    return true
  } catch {
    return false
  }
}
