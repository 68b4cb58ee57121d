/** Entry of a fork-model child (see fork-child-run.ts); fork.ts prefers the bundled one, fork-child.cjs, when built. */
import { enableCompileCache } from '../compile-cache.js'
import { serveForkChild } from './fork-child-run.js'

enableCompileCache()
await serveForkChild()
