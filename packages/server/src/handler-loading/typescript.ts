import * as nodeModule from 'node:module'
import { extname } from 'node:path'
import { importModule } from './import-module.js'
import { resolve as moduleFormat } from './module-format-hooks.js'

// handlers are ES modules: .cts (CommonJS) is not one of them
const TS_EXTENSIONS = new Set(['.ts', '.mts'])

export function isTypeScript (path: string): boolean {
  return TS_EXTENSIONS.has(extname(path).toLowerCase())
}

/**
 * Whether this Node runs `.ts` itself: `process.features.typescript` where it exists (22.10+: 'strip'
 * or 'transform', false when off), else the 22.6–22.9 flag on the command line or in NODE_OPTIONS.
 */
export function nativeTypeScript (): boolean {
  const feature = (process.features as { typescript?: string | false }).typescript
  if (feature !== undefined) return feature !== false
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  return flags.some((flag) => flag === '--experimental-strip-types' || flag === '--experimental-transform-types')
}

type RegisterHooks = (hooks: { resolve: typeof moduleFormat }) => unknown
const registerHooks = (nodeModule as unknown as { registerHooks?: RegisterHooks }).registerHooks

/** Which loader runs this thread's TypeScript. */
export type TypeScriptLoader = 'node' | 'tsx'
let prepared: Promise<TypeScriptLoader> | undefined

/**
 * Readies this thread to import TypeScript, once: Node's own type stripping where it has it (types
 * become whitespace, so lines and columns stay the file's), else tsx's loader (esbuild, with inline
 * source maps). Source maps are turned on either way so a handler's stack names its `.ts` lines.
 */
export async function ensureTypeScript (): Promise<TypeScriptLoader> {
  prepared ??= (async () => {
    process.setSourceMapsEnabled(true)
    if (nativeTypeScript()) return 'node'
    // registered before tsx, so it runs after tsx's resolve has asked it: tsx then sees the format
    if (registerHooks !== undefined) registerHooks({ resolve: moduleFormat })
    else nodeModule.register(new URL('./module-format-hooks.js', import.meta.url))
    const { register } = await importModule<typeof import('tsx/esm/api')>('tsx/esm/api')
    register()
    return 'tsx'
  })()
  return await prepared
}
