/**
 * The environment line about CPU pinning (results schemaVersion 2; older files did not record it).
 */
import type { Environment } from '@echoplex/results'

export function pinningLine (e: Environment): string {
  const p = e.pinning
  if (p === undefined) return 'not recorded (results written before pinning existed)'
  if (p.serverCpus !== null && p.loadCpus !== null) {
    return `server tree on CPU ${p.serverCpus}, load generator on CPU ${p.loadCpus} (${p.mode === 'auto' ? 'automatic split' : 'chosen with --pin'}, ${p.method ?? 'taskset'})`
  }
  return `${p.mode === 'off' ? 'off' : 'unavailable'}${p.note === null ? '' : `: ${p.note}`}`
}
