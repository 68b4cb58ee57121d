import { existsSync, realpathSync } from 'node:fs'
import * as nodeModule from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { redirectOwnPackages, type RedirectData } from './redirect-hooks.js'

/** What a handler outside the repository may import from echoplex. */
export const OWN_PACKAGES = ['@echoplex/core', '@echoplex/handlers'] as const

// node:module's synchronous, in-thread hooks (Node ≥ 22.15 / 23.5); @types/node 20 does not know them
type RegisterHooks = (hooks: { resolve: ReturnType<typeof redirectOwnPackages> }) => unknown
const registerHooks = (nodeModule as unknown as { registerHooks?: RegisterHooks }).registerHooks

let registered = false

/**
 * Makes `import '@echoplex/core'` in the handler at `handlerPath` load this echoplex's copy. Hooks are
 * per thread (a worker thread does not inherit its parent's), so every process and thread that loads
 * a handler calls this; it registers once per thread, and not at all when the handler's own directory
 * already resolves to the same files (built-ins, handlers inside the install): a hooks thread costs
 * boot time, which the fork model pays per connection.
 */
export function ensureOwnPackages (handlerPath: string): void {
  if (registered || resolvesHere(handlerPath)) return
  registered = true
  const data: RedirectData = { packages: OWN_PACKAGES, anchorURL: import.meta.url }
  if (registerHooks !== undefined) {
    registerHooks({ resolve: redirectOwnPackages(data) })
  } else {
    nodeModule.register(new URL('./redirect-hooks.js', import.meta.url), { data })
  }
}

/** Whether `import` from the handler's file already reaches this echoplex's own packages. */
export function resolvesHere (handlerPath: string): boolean {
  const file = realpathSync(handlerPath)
  return OWN_PACKAGES.every((name) => {
    const ours = packageDir(name, HERE)
    // a built-in handler lives in @echoplex/handlers itself, which does not list itself as a dependency
    if (ours !== undefined && file.startsWith(`${ours}/`)) return true
    return ours !== undefined && packageDir(name, dirname(file)) === ours
  })
}

const HERE = dirname(fileURLToPath(import.meta.url))

/**
 * Where `import name` from a module in `fromDir` finds the package (symlinks resolved): the nearest
 * node_modules/name up the tree, as ES module resolution does (it ignores NODE_PATH, unlike require).
 */
function packageDir (name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate)
    if (dirname(dir) === dir) return undefined
  }
}
