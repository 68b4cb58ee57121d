/**
 * Is a pid an echoplex server (or one of its processes)? Asked before anything is done to a pid a
 * user typed: `echoplex ps --pid`, and the dashboard, which signals a server (SIGUSR2) for its stats —
 * a signal whose default action would kill any other process.
 */
import { readProc } from './procfs.js'
import { roleOf } from './tree.js'

/** `echoplex serve …` before it renames itself (node …/echoplex.js serve …). */
const SERVE_ARGV = /(?:^|[\s/])echoplex(?:\.[cm]?js)?\s+serve(?:\s|$)/

/**
 * The echoplex role of `pid` (primary, worker, connection, spare …), or null when it is not an echoplex
 * process or is gone. `known`: the roles to accept from a title (callers that know the registry pass
 * `modelRoles()`).
 */
export async function echoplexRoleOf (pid: number, known?: readonly string[]): Promise<string | null> {
  const raw = await readProc(`/proc/${pid}/cmdline`)
  if (raw === null) return null
  const cmdline = raw.replace(/\0+$/, '').replace(/\0/g, ' ')
  const environ = await readProc(`/proc/${pid}/environ`)
  const { role } = roleOf(cmdline, environ, known)
  if (role !== 'unknown' && (known === undefined || known.includes(role))) return role
  return SERVE_ARGV.test(cmdline) ? 'primary' : null
}
