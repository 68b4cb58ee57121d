/**
 * Bundles the fork child (dist/models/fork-child-bundle.js, after tsc) into one CommonJS file,
 * dist/models/fork-child.cjs: no ESM loader and no file per module at boot, which is most of what a
 * child costs beyond a bare `node` (see fork.ts, which uses it when present). pino stays external: it
 * is loaded only when a child logs.
 */
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const dist = fileURLToPath(new URL('../dist/models/', import.meta.url))
await build({
  entryPoints: [`${dist}fork-child-bundle.js`],
  outfile: `${dist}fork-child.cjs`,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['pino'],
  // modules find files next to themselves through import.meta.url: in the bundle, that is the bundle
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__bundleUrl' },
  logLevel: 'warning',
})
