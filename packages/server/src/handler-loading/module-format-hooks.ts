/**
 * A resolve hook for tsx on Nodes without type stripping: a `.ts` file whose package scope does not
 * say `"type": "commonjs"` (a handler in a bare directory has no package.json at all) is an ES module.
 * Without it tsx would compile such a file to CommonJS, and `require` cannot load echoplex's ES-module
 * packages on Node 20. Newer Nodes decide the same way by looking at the syntax.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface Resolved { url: string, format?: string | null | undefined, [key: string]: unknown }
type NextResolve<R> = (specifier: string, context?: unknown) => R

const TS_FILE = /\.(ts|mts)$/i

/** The `type` of the package.json nearest to `file` (undefined when none says). */
function packageType (file: string): string | undefined {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    try {
      const type = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: unknown }).type
      return typeof type === 'string' ? type : undefined
    } catch {}
    if (dirname(dir) === dir) return undefined
  }
}

function withFormat (resolved: Resolved): Resolved {
  if (resolved.format != null || !resolved.url.startsWith('file:')) return resolved
  const path = fileURLToPath(resolved.url)
  if (!TS_FILE.test(path) || path.includes('/node_modules/')) return resolved
  return packageType(path) === 'commonjs' && !path.toLowerCase().endsWith('.mts') ? resolved : { ...resolved, format: 'module' }
}

/** The hook, for both `module.registerHooks` (synchronous) and `module.register` (asynchronous). */
export function resolve<R> (specifier: string, context: unknown, next: NextResolve<R>): R {
  const resolved = next(specifier, context)
  return (resolved instanceof Promise ? resolved.then(withFormat) : withFormat(resolved as Resolved)) as R
}
