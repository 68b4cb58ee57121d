/**
 * Bundles the fork child (dist/models/fork-child-bundle.js, after tsc) into one CommonJS file,
 * dist/models/fork-child.cjs: no ESM loader and no file per module at boot, which is most of what a
 * child costs beyond a bare `node` (see fork.ts, which uses it when present and fresh). pino and tsx
 * stay external: they are loaded only when a child logs, or imports a TypeScript handler.
 */
import { build } from 'esbuild'
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = fileURLToPath(new URL('../dist/models/', import.meta.url))
const outfile = `${dist}fork-child.cjs`

/**
 * Modules find files next to themselves through import.meta.url (hook modules, built-in handler
 * paths): in the bundle, each keeps its own file's URL, relative to where the bundle is.
 */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup (b) {
    b.onLoad({ filter: /\.js$/ }, async ({ path }) => {
      const source = await readFile(path, 'utf8')
      if (!source.includes('import.meta.url')) return undefined
      const url = `new URL(${JSON.stringify(relative(dirname(outfile), path))}, __bundleUrl).href`
      return { contents: source.replaceAll('import.meta.url', url), loader: 'js' }
    })
  },
}

/**
 * A startup snapshot's code has no dynamic-import callback (`import()` throws there): in the bundle,
 * handler-loading/import-module.js imports through a CommonJS file of its own, loaded at run time.
 */
const IMPORTER = 'fork-child-import.cjs'
const importThroughFile = {
  name: 'import-through-file',
  setup (b) {
    b.onLoad({ filter: /handler-loading[\\/]import-module\.js$/ }, () => ({
      loader: 'js',
      contents: `import { createRequire } from 'node:module'
let importer
export async function importModule (specifier) {
  importer ??= createRequire(__filename)('./${IMPORTER}')
  return await importer(specifier)
}
`,
    }))
  },
}

await writeFile(`${dist}${IMPORTER}`, '// the bundled fork child\'s import() (see bundle-child.mjs)\nmodule.exports = async (specifier) => await import(specifier)\n')

await build({
  entryPoints: [`${dist}fork-child-bundle.js`],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['pino', 'tsx', 'tsx/*', 'esbuild'],
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [importThroughFile, ownImportMetaUrl],
  logLevel: 'warning',
})
