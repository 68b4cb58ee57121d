import type { RuntimeConfig } from './config.js'

/** How a target's runtime reads in reports: the version the binary reported, then any Node options it ran with. */
export function runtimeText (runtime: RuntimeConfig): string {
  return [runtime.node, ...runtime.flags ?? []].join(' ')
}
